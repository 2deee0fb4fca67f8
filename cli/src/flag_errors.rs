//! docker's answer to a flag clap does not know: `unknown flag: --bogus`, the
//! closest known flag when there is one (as ripgrep suggests), `See 'berth run
//! --help'.`, exit status 125 (docker's status for a command line it refuses).
//! Every other parse outcome (help, version, a missing argument) keeps clap's
//! own text and status.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use crate::args::Cli;

/// docker's exit status when the CLI itself refuses the command line.
pub const STATUS: i32 = 125;

/// Prints clap's error `e` the way docker would and exits.
pub fn exit(e: clap::Error, argv: &[String]) -> ! {
    match unknown_flag(&e, argv) {
        Some(msg) => {
            eprint!("{msg}");
            std::process::exit(STATUS);
        }
        None => e.exit(),
    }
}

/// docker's text for an unknown flag, or `None` when `e` is something else
/// (an extra positional argument is clap's `UnknownArgument` too, but it does
/// not start with `-`, so clap's wording stays).
pub fn unknown_flag(e: &clap::Error, argv: &[String]) -> Option<String> {
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let flag = match e.get(ContextKind::InvalidArg)? {
        ContextValue::String(s) => s.clone(),
        _ => return None,
    };
    let mut msg = if let Some(long) = flag.strip_prefix("--") {
        format!("unknown flag: --{long}\n")
    } else if let Some(short) = flag.strip_prefix('-').and_then(|s| s.chars().next()) {
        format!("unknown shorthand flag: '{short}' in {flag}\n")
    } else {
        return None;
    };
    if let Some(ContextValue::String(similar)) = e.get(ContextKind::SuggestedArg) {
        msg.push_str(&format!("similar flag: {similar}\n"));
    }
    msg.push_str(&format!("See '{} --help'.\n", command_path(argv)));
    Some(msg)
}

/// `berth run`, `berth image ls`, …: the subcommands named on the command
/// line, for the `--help` hint. Only `-H`/`--host` (the one global option)
/// takes a value before the subcommand, so any other `-x` is skipped alone.
fn command_path(argv: &[String]) -> String {
    let mut cmd = Cli::command();
    let mut path = vec![cmd.get_name().to_string()];
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        if a == "-H" || a == "--host" {
            args.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        let Some(sub) = cmd.find_subcommand(a).cloned() else {
            break;
        };
        path.push(sub.get_name().to_string());
        cmd = sub;
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::Command;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(argv(line))
    }

    fn refusal(line: &str) -> String {
        let Err(e) = parse(line) else {
            panic!("{line:?} parsed");
        };
        unknown_flag(&e, &argv(line)).unwrap_or_else(|| panic!("{line:?}: {e}"))
    }

    fn run_args(line: &str) -> crate::args::CreateArgs {
        match parse(line).map(|c| c.command) {
            Ok(Command::Run(r)) => r.create,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn an_unknown_flag_before_the_image_is_refused_not_taken_for_the_image() {
        assert_eq!(
            refusal("berth run --bogus busybox true"),
            "unknown flag: --bogus\nSee 'berth run --help'.\n"
        );
        assert_eq!(
            refusal("berth run --blkio-weight 10 busybox true"),
            "unknown flag: --blkio-weight\nSee 'berth run --help'.\n"
        );
        assert_eq!(
            refusal("berth create -d --name x --bogus busybox"),
            "unknown shorthand flag: 'd' in -d\nSee 'berth create --help'.\n"
        );
    }

    #[test]
    fn the_closest_known_flag_is_suggested() {
        assert_eq!(
            refusal("berth run --cpu 1 busybox true"),
            "unknown flag: --cpu\nsimilar flag: --cpus\nSee 'berth run --help'.\n"
        );
    }

    #[test]
    fn the_help_hint_names_the_subcommand_path() {
        assert!(refusal("berth -H /tmp/s container create --bogus busybox")
            .ends_with("See 'berth container create --help'.\n"));
        assert!(refusal("berth exec --bogus c1 true").ends_with("See 'berth exec --help'.\n"));
    }

    #[test]
    fn after_the_image_everything_is_the_command() {
        let a = run_args("berth run -l k=v busybox ls -l --bogus -i");
        assert_eq!(a.image(), "busybox");
        assert_eq!(a.command(), argv("ls -l --bogus -i"));
        assert_eq!(a.label, ["k=v"]);
        assert!(!a.interactive);
        let a = run_args("berth run --rm -it busybox sh -c true");
        assert!(a.rm && a.interactive && a.tty);
        assert_eq!(a.command(), argv("sh -c true"));
    }

    #[test]
    fn exec_passes_everything_after_the_container_to_the_command() {
        match parse("berth exec -i c1 ls -l --bogus").map(|c| c.command) {
            Ok(Command::Exec(x)) => {
                assert!(x.interactive);
                assert_eq!(x.container, "c1");
                assert_eq!(x.command, argv("ls -l --bogus"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_parse_errors_keep_clap_s_wording() {
        let line = "berth logs c1 extra";
        let e = parse(line).expect_err("an extra argument");
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert_eq!(unknown_flag(&e, &argv(line)), None);
        let e = parse("berth run").expect_err("no image");
        assert_eq!(unknown_flag(&e, &argv("berth run")), None);
    }
}
