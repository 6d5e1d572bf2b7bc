//! A figure against its target, as the soak and the benchmark print them: timing targets are
//! figures to read (PASS/FAIL in a table), loss and correctness targets are what fails a run.

use serde_json::{Value, json};

/// One target and whether the run met it.
#[derive(Debug, Clone)]
pub struct Target {
    /// What is measured.
    pub name: String,
    /// The measured value.
    pub value: String,
    /// The target, as text.
    pub goal: String,
    /// Whether it was met.
    pub met: bool,
    /// A loss or correctness target (a failure of the run), not a timing one (only printed).
    pub correctness: bool,
}

impl Target {
    /// `PASS` or `FAIL`.
    pub fn verdict(&self) -> &'static str {
        if self.met { "PASS" } else { "FAIL" }
    }

    /// `| **name** | value | goal PASS |`, a row of a `| measure | value | target |` table.
    pub fn row(&self) -> String {
        format!(
            "| **{}** | {} | {} {} |",
            self.name,
            self.value,
            self.goal,
            self.verdict()
        )
    }

    /// `name: value (target goal)`.
    pub fn line(&self) -> String {
        format!("{}: {} (target {})", self.name, self.value, self.goal)
    }

    /// The target as JSON.
    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "value": self.value,
            "target": self.goal,
            "met": self.met,
            "correctness": self.correctness,
        })
    }
}
