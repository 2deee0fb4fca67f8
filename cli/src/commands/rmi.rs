//! `berth rmi` / `berth image rm`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::RmiArgs;

pub async fn rmi(c: &Client, a: RmiArgs) -> Result<i32> {
    let mut status = 0;
    for i in &a.images {
        match c.images().remove(i, a.force).await {
            Ok(r) => {
                for u in r.untagged {
                    println!("Untagged: {u}");
                }
                for d in r.deleted {
                    println!("Deleted: {d}");
                }
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                status = 1;
            }
        }
    }
    Ok(status)
}
