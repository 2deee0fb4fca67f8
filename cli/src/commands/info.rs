//! `berth info` / `berth system info`.

use anyhow::{anyhow, Result};
use berth_engine_api::Client;

use crate::args::FormatArgs;
use crate::output::format::Template;
use crate::output::units;

pub async fn info(c: &Client, a: FormatArgs) -> Result<i32> {
    let i = c.system().info().await?;
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        println!(
            "{}",
            t.render(&serde_json::to_value(&i)?)
                .map_err(|e| anyhow!(e))?
        );
        return Ok(0);
    }
    println!("Server:");
    println!(" Containers: {}", i.containers);
    println!("  Running: {}", i.containers_running);
    println!("  Paused: {}", i.containers_paused);
    println!("  Stopped: {}", i.containers_stopped);
    println!(" Images: {}", i.images);
    println!(" Volumes: {}", i.volumes);
    println!(" Server Version: {}", i.server_version);
    println!(" Storage Driver: {}", i.driver);
    println!(" Cgroup Version: {}", i.cgroup_version);
    println!(" Runtime: {}", i.runtime);
    println!(" Live Restore Enabled: {}", i.live_restore_enabled);
    println!(" Kernel Version: {}", i.kernel_version);
    println!(" Operating System: {}", i.operating_system);
    println!(" OSType: {}", i.os_type);
    println!(" Architecture: {}", i.architecture);
    println!(" CPUs: {}", i.ncpu);
    println!(" Total Memory: {}", units::bytes(i.mem_total as f64));
    println!(" Name: {}", i.name);
    println!(" Root Dir: {}", i.root_dir);
    println!(" State Dir: {}", i.state_dir);
    println!(" Debug Mode: {}", i.debug);
    Ok(0)
}
