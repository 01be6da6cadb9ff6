fn main() {
    let due: Vec<shared::Event> = (1..4).map(|id| shared::Event::new(id, "tick")).collect();
    println!("cron has {} events due, last {:?}", due.len(), due.last());
}
