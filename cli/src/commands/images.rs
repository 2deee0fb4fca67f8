//! `berth images` / `berth image ls`, and `berth image prune`.

use anyhow::{anyhow, Result};
use berth_engine_api::{Client, Image};
use serde_json::json;

use crate::args::{ImagePruneArgs, ImagesArgs};
use crate::output::format::Template;
use crate::output::{table, units};

/// (repository, tag) pairs of an image; `<none>` for a dangling one.
fn repo_tags(i: &Image) -> Vec<(String, String)> {
    if i.repo_tags.is_empty() {
        // Pulled by digest: docker lists the repository with tag <none>.
        let mut v: Vec<(String, String)> = i
            .repo_digests
            .iter()
            .filter_map(|d| d.split_once('@'))
            .map(|(r, _)| (r.to_string(), "<none>".to_string()))
            .collect();
        v.dedup();
        if v.is_empty() {
            v.push(("<none>".into(), "<none>".into()));
        }
        return v;
    }
    i.repo_tags
        .iter()
        .map(|t| match t.rsplit_once(':') {
            Some((r, tag)) if !tag.contains('/') => (r.to_string(), tag.to_string()),
            _ => (t.clone(), "latest".to_string()),
        })
        .collect()
}

fn short(id: &str, trunc: bool) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if trunc {
        hex[..12.min(hex.len())].to_string()
    } else {
        id.to_string()
    }
}

pub async fn images(c: &Client, a: ImagesArgs) -> Result<i32> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let list = c.images().list(a.all, &filters).await?;
    let trunc = !a.no_trunc;
    if a.quiet {
        let mut seen = Vec::new();
        for i in &list {
            let s = short(&i.id, trunc);
            if !seen.contains(&s) {
                println!("{s}");
                seen.push(s);
            }
        }
        return Ok(0);
    }
    let mut values = Vec::new();
    for i in &list {
        for (repo, tag) in repo_tags(i) {
            values.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": short(&i.id, trunc),
                "CreatedAt": i.created,
                "CreatedSince": if i.created.is_empty() { "N/A".to_string() } else { format!("{} ago", units::duration(units::ago(&i.created))) },
                "Size": units::size(i.size as f64),
                "Digest": i
                    .repo_digests
                    .iter()
                    .filter_map(|d| d.split_once('@'))
                    .find(|(r, _)| *r == repo)
                    .map(|(_, d)| d.to_string())
                    .unwrap_or_else(|| "<none>".to_string()),
            }));
        }
    }
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        let mut lines = Vec::new();
        if t.table {
            lines.push(t.header());
        }
        for v in &values {
            lines.push(t.render(v).map_err(|e| anyhow!(e))?);
        }
        if t.table {
            table::print_tabbed(&lines);
        } else {
            lines.iter().for_each(|l| println!("{l}"));
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|v| {
            let keys: &[&str] = if a.digests {
                &["Repository", "Tag", "Digest", "ID", "CreatedSince", "Size"]
            } else {
                &["Repository", "Tag", "ID", "CreatedSince", "Size"]
            };
            keys.iter()
                .map(|k| v[*k].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    if a.digests {
        table::print(
            &["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"],
            &rows,
        );
    } else {
        table::print(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
    }
    Ok(0)
}

pub async fn prune(c: &Client, a: ImagePruneArgs) -> Result<i32> {
    let filters = if a.all {
        vec![]
    } else {
        vec!["dangling=true".to_string()]
    };
    let used: Vec<String> = c
        .containers()
        .list(true, &[], 0)
        .await?
        .into_iter()
        .map(|c| c.image_id)
        .collect();
    let mut reclaimed = 0i64;
    let mut deleted = Vec::new();
    for i in c.images().list(true, &filters).await? {
        if used.contains(&i.id) {
            continue;
        }
        if let Ok(r) = c.images().remove(&i.id, true).await {
            reclaimed += i.size;
            deleted.extend(r.deleted);
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", units::size(reclaimed as f64));
    Ok(0)
}
