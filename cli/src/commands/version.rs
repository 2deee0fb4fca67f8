//! `berth version`: client and server versions.

use anyhow::{anyhow, Result};
use berth_engine_api::Client;

use crate::args::FormatArgs;
use crate::output::format::Template;

pub async fn version(host: Option<&str>, a: FormatArgs) -> Result<i32> {
    if a.format.is_none() {
        println!("Client:");
        println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
        println!(
            " OS/Arch:           {}/{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        println!();
    }
    let c: Client = super::connect(host).await?;
    let v = c.system().version().await?;
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        let val = serde_json::json!({
            "Client": {"Version": env!("CARGO_PKG_VERSION"), "Os": std::env::consts::OS, "Arch": std::env::consts::ARCH},
            "Server": serde_json::to_value(&v)?,
        });
        println!("{}", t.render(&val).map_err(|e| anyhow!(e))?);
        return Ok(0);
    }
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(
        " OS/Arch:           {}/{}",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!();
    println!("Server:");
    println!(" Engine:");
    println!("  Version:          {}", v.version);
    println!("  API version:      {}", v.api_version);
    println!("  OS/Arch:          {}/{}", v.os, v.arch);
    println!("  Kernel Version:   {}", v.kernel_version);
    println!(" Runtime:");
    println!("  Path:             {}", v.runtime);
    println!("  Version:          {}", v.runtime_version);
    Ok(0)
}
