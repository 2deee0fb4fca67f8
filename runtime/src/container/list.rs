//! `list`: every container under `--root`, as runc's table or JSON.
use super::{Container, Error, StateOutput};
use crate::cli::ListFormat;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub fn list(root: &Path, format: ListFormat, quiet: bool) -> Result<String, Error> {
    let mut items: Vec<StateOutput> = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e.filter_map(|e| e.ok()).collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(root, e)),
    };
    for entry in entries {
        let Some(id) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(c) = Container::load(root, &id) else {
            continue;
        };
        let mut out = c.state.output(c.status());
        if let Ok(meta) = std::fs::metadata(&c.dir) {
            out.owner = nix::unistd::User::from_uid(meta.uid().into())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| format!("#{}", meta.uid()));
        }
        items.push(out);
    }
    items.sort_by(|a, b| a.id.cmp(&b.id));
    if quiet {
        return Ok(items.iter().map(|i| format!("{}\n", i.id)).collect());
    }
    match format {
        ListFormat::Json => {
            let text = if items.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&items).unwrap_or_default()
            };
            Ok(format!("{text}\n"))
        }
        ListFormat::Table => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for i in &items {
                rows.push(vec![
                    i.id.clone(),
                    i.pid.to_string(),
                    i.status.clone(),
                    i.bundle.display().to_string(),
                    i.created.clone(),
                    i.owner.clone(),
                ]);
            }
            Ok(table(&rows))
        }
    }
}

/// Go's tabwriter as runc uses it: min width 12, padding 3, last column unpadded.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, |r| r.len());
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_is_runc_header() {
        let rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            .map(String::from)
            .to_vec()];
        assert_eq!(
            table(&rows),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }

    #[test]
    fn missing_root_lists_nothing() {
        let out = list(
            Path::new("/nonexistent/berth-root"),
            ListFormat::Json,
            false,
        )
        .expect("list");
        assert_eq!(out, "null\n");
    }
}
