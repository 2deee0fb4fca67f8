//! Pull and push progress: one bar per layer with bytes and speed on a terminal
//! (indicatif), docker's plain `ID: Status` lines otherwise (status changes only,
//! no byte counts), nothing with `-q`.

use std::collections::HashMap;
use std::io::IsTerminal;

use berth_engine_api::TransferEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Renderer {
    mode: Mode,
    bars: HashMap<String, ProgressBar>,
    last: HashMap<String, String>,
}

enum Mode {
    Quiet,
    Plain,
    Bars(MultiProgress),
}

impl Renderer {
    pub fn new(quiet: bool) -> Renderer {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars(MultiProgress::new())
        } else {
            Mode::Plain
        };
        Renderer {
            mode,
            bars: HashMap::new(),
            last: HashMap::new(),
        }
    }

    pub fn event(&mut self, e: &TransferEvent) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                if e.total > 0 && self.last.get(&e.id) == Some(&e.status) {
                    return;
                }
                self.last.insert(e.id.clone(), e.status.clone());
                if e.id.is_empty() {
                    println!("{}", e.status);
                } else {
                    println!("{}: {}", e.id, e.status);
                }
            }
            Mode::Bars(mp) => {
                if e.id.is_empty() {
                    let _ = mp.println(&e.status);
                    return;
                }
                let bar = self.bars.entry(e.id.clone()).or_insert_with(|| {
                    let b = mp.add(ProgressBar::new(0));
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg:<18} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.set_prefix(e.id.clone());
                    b
                });
                bar.set_message(e.status.clone());
                if e.total > 0 {
                    bar.set_length(e.total);
                    bar.set_position(e.current);
                }
                if matches!(
                    e.status.as_str(),
                    "Pull complete" | "Already exists" | "Pushed" | "Layer already exists"
                ) || e.status.starts_with("Mounted from")
                {
                    bar.set_style(
                        ProgressStyle::with_template("{prefix}: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.finish();
                }
            }
        }
    }

    pub fn finish(&mut self) {
        for b in self.bars.values() {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}
