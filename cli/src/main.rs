//! berth: docker's verbs and flags over berthd's API (engine-api). `args/`
//! holds the clap structs, `commands/` one file per verb, `output/` tables,
//! templates and the terminal.

mod args;
mod commands;
mod credentials;
mod flag_errors;
mod output;
mod stdio;

use clap::Parser;

fn print_error(e: &anyhow::Error) {
    match e.downcast_ref::<berth_engine_api::Error>() {
        Some(api) if api.from_daemon() => {
            eprintln!("Error response from daemon: {api}");
            // A hint added as context by the command.
            let outer = e.to_string();
            if outer != api.to_string() {
                eprintln!("{outer}");
            }
        }
        Some(api) => eprintln!("{api}"),
        None => eprintln!("Error: {e:#}"),
    }
}

fn main() {
    // `berth ps | head`: a closed pipe ends us quietly, like any Unix tool,
    // instead of a panic from println!.
    // SAFETY: setting a signal disposition to SIG_DFL before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match args::Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let lossy: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into()).collect();
            flag_errors::exit(e, &lossy)
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async {
        match commands::run(cli).await {
            Ok(code) => code,
            Err(e) => match e.downcast_ref::<commands::ExitCode>() {
                Some(c) => {
                    print_error(&c.1);
                    c.0
                }
                None => {
                    print_error(&e);
                    1
                }
            },
        }
    });
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // Exit without waiting for a blocked stdin reader thread.
    std::process::exit(code);
}
