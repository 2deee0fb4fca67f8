//! events: the daemon's event bus (`berth events`, docker's `/events`).
//!
//! Domain modules publish after the change is committed to the store (so a
//! subscriber that reacts by querying sees the new state). Subscribers get every
//! event published after they subscribed; a bounded ring of recent events serves
//! `--since`. A slow subscriber that falls behind the channel loses the oldest
//! events rather than slowing publishers down.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

/// How many past events `since` can replay.
const HISTORY: usize = 1024;

/// One event. `topic` is path-like: `/containers/start`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// "container", "image", "volume", "daemon".
    pub kind: String,
    pub action: String,
    pub id: String,
    pub attributes: HashMap<String, String>,
    /// Unix time in nanoseconds.
    pub time_nano: i64,
}

impl Event {
    /// The path-like topic, `/<kind>s/<action>`.
    pub fn topic(&self) -> String {
        format!("/{}s/{}", self.kind, self.action)
    }

    /// docker's `--filter` semantics: same key ORs, different keys AND.
    pub fn matches(&self, filters: &[(String, String)]) -> bool {
        let mut by_key: HashMap<&str, Vec<&str>> = HashMap::new();
        for (k, v) in filters {
            by_key.entry(k.as_str()).or_default().push(v.as_str());
        }
        by_key.iter().all(|(k, vals)| {
            vals.iter().any(|v| match *k {
                "type" => self.kind == *v,
                // docker (moby #25798): `health_status`, `exec_create` and
                // `exec_start` without a value match every such action.
                "event" | "action" => {
                    self.action == *v
                        || (matches!(*v, "health_status" | "exec_create" | "exec_start")
                            && self
                                .action
                                .strip_prefix(*v)
                                .is_some_and(|rest| rest.starts_with(':')))
                }
                "container" | "image" | "volume" => {
                    self.kind == *k
                        && (self.id.starts_with(v)
                            || self.attributes.get("name").is_some_and(|n| n == v))
                }
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => self.attributes.get(lk).is_some_and(|x| x == lv),
                    None => self.attributes.contains_key(*v),
                },
                _ => false,
            })
        })
    }
}

/// The bus. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Events {
    tx: broadcast::Sender<Event>,
    history: Arc<Mutex<VecDeque<Event>>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Events {
        let (tx, _) = broadcast::channel(HISTORY);
        Events {
            tx,
            history: Arc::new(Mutex::new(VecDeque::with_capacity(HISTORY))),
        }
    }

    /// Publishes an event stamped with the current time.
    pub fn publish(&self, kind: &str, action: &str, id: &str, attributes: HashMap<String, String>) {
        let time_nano = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let ev = Event {
            kind: kind.to_string(),
            action: action.to_string(),
            id: id.to_string(),
            attributes,
            time_nano,
        };
        tracing::debug!(topic = %ev.topic(), id, "event");
        if let Ok(mut h) = self.history.lock() {
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        // No subscriber is not an error.
        let _ = self.tx.send(ev);
    }

    /// A receiver of future events plus the buffered ones at or after `since`
    /// (unix nanos; 0: none).
    pub fn subscribe(&self, since: i64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let rx = self.tx.subscribe();
        let past = if since > 0 {
            self.history
                .lock()
                .map(|h| h.iter().filter(|e| e.time_nano >= since).cloned().collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        (past, rx)
    }
}

impl Events {
    /// `berth events`: the buffered events at or after `since` (unix nanos; 0:
    /// none), then live ones, that match `filters`, until `until` (unix nanos;
    /// 0: until the receiver is dropped). The channel closes at `until`.
    pub fn watch(
        &self,
        since: i64,
        until: i64,
        filters: Vec<(String, String)>,
    ) -> mpsc::Receiver<Event> {
        let (past, mut live) = self.subscribe(since);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            for e in past.into_iter().filter(|e| e.matches(&filters)) {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            loop {
                let wait = async {
                    if until > 0 {
                        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
                        let left = std::time::Duration::from_nanos((until - now).max(0) as u64);
                        tokio::time::timeout(left, live.recv()).await.ok()
                    } else {
                        Some(live.recv().await)
                    }
                };
                match wait.await {
                    None => return,
                    Some(Ok(e)) => {
                        if e.matches(&filters) && tx.send(e).await.is_err() {
                            return;
                        }
                    }
                    // A subscriber that fell behind loses the oldest events.
                    Some(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                    Some(Err(broadcast::error::RecvError::Closed)) => return,
                }
            }
        });
        rx
    }
}

/// Splits `key=value` filter strings.
pub fn parse_filters(raw: &[String]) -> Vec<(String, String)> {
    raw.iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (f.clone(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_published_events_and_history() {
        let ev = Events::new();
        ev.publish("container", "create", "abc", HashMap::new());
        let (past, mut rx) = ev.subscribe(1);
        assert_eq!(past.len(), 1);
        ev.publish("container", "start", "abc", HashMap::new());
        let got = rx.recv().await.unwrap();
        assert_eq!(got.topic(), "/containers/start");
    }

    #[tokio::test]
    async fn watch_replays_filtered_history_then_ends_at_until() {
        let ev = Events::new();
        ev.publish("image", "tag", "busybox:1", HashMap::new());
        ev.publish("container", "create", "abc", HashMap::new());
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let filters = vec![("type".to_string(), "container".to_string())];
        let mut rx = ev.watch(1, now + 50_000_000, filters);
        let first = rx.recv().await.map(|e| e.topic());
        assert_eq!(first.as_deref(), Some("/containers/create"));
        ev.publish("image", "delete", "x", HashMap::new());
        ev.publish("container", "start", "abc", HashMap::new());
        let live = rx.recv().await.map(|e| e.topic());
        assert_eq!(live.as_deref(), Some("/containers/start"));
        assert_eq!(rx.recv().await, None, "the stream ends at until");
    }

    #[test]
    fn filters_and_or() {
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), "web".to_string());
        let e = Event {
            kind: "container".into(),
            action: "die".into(),
            id: "abcdef".into(),
            attributes: attrs,
            time_nano: 1,
        };
        let f = |s: &[&str]| parse_filters(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert!(e.matches(&f(&["type=container", "event=start", "event=die"])));
        assert!(e.matches(&f(&["container=web"])));
        assert!(e.matches(&f(&["container=abc"])));
        assert!(!e.matches(&f(&["type=image"])));
        assert!(!e.matches(&f(&["type=container", "event=start"])));
    }

    #[test]
    fn health_status_alone_matches_each_health_action() {
        let e = |action: &str| Event {
            kind: "container".into(),
            action: action.into(),
            id: "abcdef".into(),
            attributes: HashMap::new(),
            time_nano: 1,
        };
        let f = |s: &str| vec![("event".to_string(), s.to_string())];
        assert!(e("health_status: healthy").matches(&f("health_status")));
        assert!(e("health_status: unhealthy").matches(&f("health_status: unhealthy")));
        assert!(!e("health_status: healthy").matches(&f("health_status: unhealthy")));
        assert!(!e("health_statusx").matches(&f("health_status")));
        assert!(!e("die").matches(&f("health_status")));
    }
}
