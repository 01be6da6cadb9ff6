#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for id in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            tx.send(shared::Event::new(id, "job")).await.expect("send");
        }
    });
    let mut done = 0;
    while let Some(event) = rx.recv().await {
        done += event.payload.len();
    }
    println!("worker did {done} units");
}
