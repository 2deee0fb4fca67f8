//! `berth build`'s report. Plain (not a terminal, or `--progress plain`): BuildKit's
//! lines, `#N [stage k/n] TEXT`, `#N CACHED`, `#N cache miss: why`, the RUN's
//! output, `#N DONE 0.4s`. Live (a terminal, or `--progress tty`): a line per step
//! that ticks while it runs with its last output line beside it, and settles to
//! `=> [stage k/n] TEXT  0.4s` / `CACHED`; misses and warnings are printed above.
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use berth_engine_api::build::BuildEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Progress {
    Quiet,
    Plain,
    Live(Live),
}

pub struct Live {
    mp: MultiProgress,
    steps: HashMap<u32, (ProgressBar, String)>,
    /// Why a step missed the cache, shown when it settles.
    misses: HashMap<u32, String>,
}

impl Progress {
    /// `mode`: auto, plain or tty.
    pub fn new(mode: &str, quiet: bool) -> Progress {
        use std::io::IsTerminal;
        if quiet {
            return Progress::Quiet;
        }
        if mode == "tty" || (mode == "auto" && std::io::stderr().is_terminal()) {
            Progress::Live(Live {
                mp: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                steps: HashMap::new(),
                misses: HashMap::new(),
            })
        } else {
            Progress::Plain
        }
    }

    pub fn event(&mut self, ev: &BuildEvent, tags: &[String]) -> std::io::Result<()> {
        match self {
            Progress::Quiet => Ok(()),
            Progress::Plain => plain(ev, tags),
            Progress::Live(l) => {
                l.event(ev, tags);
                Ok(())
            }
        }
    }
}

fn plain(ev: &BuildEvent, tags: &[String]) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    match ev {
        BuildEvent::Step { id, stage, text } => writeln!(err, "#{id} [{stage}] {text}"),
        BuildEvent::Cached(id) => writeln!(err, "#{id} CACHED"),
        BuildEvent::Miss { id, reason } => writeln!(err, "#{id} cache miss: {reason}"),
        BuildEvent::Output { id, data } => {
            for line in String::from_utf8_lossy(data).lines() {
                writeln!(err, "#{id} {line}")?;
            }
            Ok(())
        }
        BuildEvent::Done { id, secs } => writeln!(err, "#{id} DONE {secs:.1}s"),
        BuildEvent::Warning(w) => writeln!(err, "WARNING: {w}"),
        BuildEvent::Image(i) => {
            writeln!(err, "writing image {i} done")?;
            for t in tags {
                writeln!(err, "naming to {t} done")?;
            }
            Ok(())
        }
        BuildEvent::Export(_) => Ok(()),
    }
}

impl Live {
    fn event(&mut self, ev: &BuildEvent, tags: &[String]) {
        let running =
            ProgressStyle::with_template(" {spinner} {prefix} {elapsed:>4} {wide_msg:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let settled = |how: &str| {
            ProgressStyle::with_template(&format!(" => {{prefix}} {how}"))
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
        };
        match ev {
            BuildEvent::Step { id, stage, text } => {
                // A FROM's ONBUILD triggers come under its id: one line each.
                if let Some((b, _)) = self.steps.remove(id) {
                    b.set_style(settled("DONE"));
                    b.finish();
                }
                let b = self.mp.add(ProgressBar::new_spinner());
                b.set_style(running);
                let title = format!("[{stage}] {text}");
                b.set_prefix(title.clone());
                b.enable_steady_tick(Duration::from_millis(100));
                self.steps.insert(*id, (b, title));
            }
            BuildEvent::Cached(id) => {
                if let Some((b, _)) = self.steps.remove(id) {
                    b.set_style(settled("CACHED"));
                    b.finish();
                }
            }
            BuildEvent::Miss { id, reason } => {
                self.misses.insert(*id, reason.clone());
            }
            BuildEvent::Output { id, data } => {
                if let Some((b, _)) = self.steps.get(id) {
                    let text = String::from_utf8_lossy(data);
                    if let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) {
                        b.set_message(last.to_string());
                    }
                }
            }
            BuildEvent::Done { id, secs } => {
                if let Some((b, _)) = self.steps.remove(id) {
                    let why = self
                        .misses
                        .remove(id)
                        .map(|r| format!("  ({r})"))
                        .unwrap_or_default();
                    b.set_style(settled(&format!("{secs:.1}s{why}")));
                    b.finish();
                }
            }
            BuildEvent::Warning(w) => {
                let _ = self.mp.println(format!("WARNING: {w}"));
            }
            BuildEvent::Image(i) => {
                let _ = self.mp.println(format!(" => writing image {i}"));
                for t in tags {
                    let _ = self.mp.println(format!(" => naming to {t}"));
                }
            }
            BuildEvent::Export(_) => {}
        }
    }

    /// A failed build: the running steps stop where they are.
    pub fn abandon(&mut self) {
        for (_, (b, title)) in self.steps.drain() {
            b.abandon_with_message(format!("{title}: ERROR"));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Progress::Live(l) = self {
            l.abandon();
        }
    }
}
