//! A `tracing` subscriber's JSON lines, captured for a test to read (the core's and the
//! PostgreSQL crate's `tracing` tests).

#![allow(dead_code)] // each test binary uses its own part

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where the subscriber writes (`.with_writer(captured.clone())`): one shared buffer.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// What was written: the text, and each line as JSON.
    pub fn read(&self) -> (String, Vec<serde_json::Value>) {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        let lines = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        (text, lines)
    }
}

/// The fields of the events whose message is `message`.
pub fn events<'a>(lines: &'a [serde_json::Value], message: &str) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == message)
        .map(|l| &l["fields"])
        .collect()
}
