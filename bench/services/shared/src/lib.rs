use serde::{Deserialize, Serialize};

/// What the services pass around.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: u64,
    pub kind: String,
    pub payload: Vec<u32>,
}

impl Event {
    pub fn new(id: u64, kind: &str) -> Event {
        Event { id, kind: kind.to_string(), payload: (0..id as u32).collect() }
    }

    #[cfg(feature = "json")]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event serialises")
    }
}
