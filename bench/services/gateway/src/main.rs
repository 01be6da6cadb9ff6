#[tokio::main(flavor = "current_thread")]
async fn main() {
    let routes = serde_json::json!({ "/api": "api:8080", "/jobs": "worker:9090" });
    let event = shared::Event::new(2, "route");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    println!("gateway on {} routes {routes} first {}", socket.local_addr().expect("address"), event.to_json());
}
