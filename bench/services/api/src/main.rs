use tokio::io::AsyncWriteExt;

const EDIT: u32 = 0;

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let client = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await.expect("connect") });
    let (mut socket, _) = listener.accept().await.expect("accept");
    let event = shared::Event::new(3, "api");
    socket.write_all(event.to_json().as_bytes()).await.expect("write");
    drop(client.await);
    println!("api served {} (edit {EDIT})", event.to_json());
}
