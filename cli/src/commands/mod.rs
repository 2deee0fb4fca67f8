//! One file per verb. Each takes its parsed args and an engine-api client and
//! returns the exit status.

mod attach;
mod build;
mod commit;
mod cp;
mod create;
mod events;
mod exec;
mod export;
mod history;
mod images;
mod import;
mod info;
mod inspect;
mod kill;
mod load;
mod login;
mod logs;
mod pause;
mod port;
mod prune;
mod ps;
mod pull;
mod rename;
mod restart;
mod rm;
mod rmi;
mod run;
mod save;
mod start;
mod stats;
mod stop;
mod system;
mod tag;
mod top;
mod unpause;
mod version;
mod volume;
mod wait;

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::{
    BuilderCommand, Cli, Command, ContainerCommand, ImageCommand, SystemCommand, VolumeCommand,
};

/// An error that must end the process with a given status (docker: 125 when
/// the daemon refused a `run`, 126/127 when the command could not run).
#[derive(Debug)]
pub struct ExitCode(pub i32, pub anyhow::Error);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.1)
    }
}

impl std::error::Error for ExitCode {}

pub(crate) async fn connect(host: Option<&str>) -> Result<Client> {
    Ok(match host {
        Some(h) => Client::connect(h.strip_prefix("unix://").unwrap_or(h)).await?,
        None => Client::connect_default().await?,
    })
}

/// Runs one verb on each of `names`, printing each name on success like
/// docker; the status is 1 if any failed.
pub(crate) async fn each<F, Fut>(names: &[String], mut f: F) -> Result<i32>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut status = 0;
    for n in names {
        match f(n.clone()).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                match e.downcast_ref::<berth_engine_api::Error>() {
                    Some(api) if api.from_daemon() => {
                        eprintln!("Error response from daemon: {api}")
                    }
                    _ => eprintln!("Error: {e:#}"),
                }
                status = 1;
            }
        }
    }
    Ok(status)
}

pub async fn run(cli: Cli) -> Result<i32> {
    if let Command::Version(a) = &cli.command {
        // The client half prints even when the daemon is down, like docker's.
        return version::version(cli.host.as_deref(), a.clone()).await;
    }
    if let Command::Logout(a) = &cli.command {
        // Only the client's config changes; the daemon need not be up.
        return login::logout(a.clone()).await;
    }
    let c = connect(cli.host.as_deref()).await?;
    match cli.command {
        Command::Run(a) => run::run(&c, a).await,
        Command::Create(a) => create::create(&c, a).await,
        Command::Start(a) => start::start(&c, a).await,
        Command::Stop(a) => stop::stop(&c, a).await,
        Command::Restart(a) => restart::restart(&c, a).await,
        Command::Kill(a) => kill::kill(&c, a).await,
        Command::Rm(a) => rm::rm(&c, a).await,
        Command::Pause(a) => pause::pause(&c, a).await,
        Command::Unpause(a) => unpause::unpause(&c, a).await,
        Command::Exec(a) => exec::exec(&c, a).await,
        Command::Attach(a) => attach::attach(&c, a).await,
        Command::Logs(a) => logs::logs(&c, a).await,
        Command::Ps(a) => ps::ps(&c, a).await,
        Command::Inspect(a) => inspect::inspect(&c, a).await,
        Command::Top(a) => top::top(&c, a).await,
        Command::Stats(a) => stats::stats(&c, a).await,
        Command::Wait(a) => wait::wait(&c, a).await,
        Command::Rename(a) => rename::rename(&c, a).await,
        Command::Export(a) => export::export(&c, a).await,
        Command::Cp(a) => cp::cp(&c, a).await,
        Command::Commit(a) => commit::commit(&c, a).await,
        Command::Port(a) => port::port(&c, a).await,
        Command::Container(cc) => match cc {
            ContainerCommand::Ls(a) => ps::ps(&c, a).await,
            ContainerCommand::Run(a) => run::run(&c, a).await,
            ContainerCommand::Create(a) => create::create(&c, a).await,
            ContainerCommand::Start(a) => start::start(&c, a).await,
            ContainerCommand::Stop(a) => stop::stop(&c, a).await,
            ContainerCommand::Restart(a) => restart::restart(&c, a).await,
            ContainerCommand::Kill(a) => kill::kill(&c, a).await,
            ContainerCommand::Rm(a) => rm::rm(&c, a).await,
            ContainerCommand::Pause(a) => pause::pause(&c, a).await,
            ContainerCommand::Unpause(a) => unpause::unpause(&c, a).await,
            ContainerCommand::Exec(a) => exec::exec(&c, a).await,
            ContainerCommand::Attach(a) => attach::attach(&c, a).await,
            ContainerCommand::Logs(a) => logs::logs(&c, a).await,
            ContainerCommand::Inspect(mut a) => {
                a.kind = Some("container".into());
                inspect::inspect(&c, a).await
            }
            ContainerCommand::Top(a) => top::top(&c, a).await,
            ContainerCommand::Stats(a) => stats::stats(&c, a).await,
            ContainerCommand::Wait(a) => wait::wait(&c, a).await,
            ContainerCommand::Rename(a) => rename::rename(&c, a).await,
            ContainerCommand::Prune(a) => prune::prune(&c, a).await,
            ContainerCommand::Export(a) => export::export(&c, a).await,
            ContainerCommand::Cp(a) => cp::cp(&c, a).await,
            ContainerCommand::Commit(a) => commit::commit(&c, a).await,
            ContainerCommand::Port(a) => port::port(&c, a).await,
        },
        Command::Image(ic) => match ic {
            ImageCommand::Ls(a) => images::images(&c, a).await,
            ImageCommand::Build(a) => build::build(&c, a).await,
            ImageCommand::Import(a) => import::import(&c, a).await,
            ImageCommand::Inspect(a) => {
                inspect::inspect(
                    &c,
                    crate::args::InspectArgs {
                        format: a.format,
                        kind: Some("image".into()),
                        size: false,
                        names: a.images,
                    },
                )
                .await
            }
            ImageCommand::Load(a) => load::load(&c, a).await,
            ImageCommand::Pull(a) => pull::pull(&c, a).await,
            ImageCommand::Push(a) => pull::push(&c, a).await,
            ImageCommand::Save(a) => save::save(&c, a).await,
            ImageCommand::Rm(a) => rmi::rmi(&c, a).await,
            ImageCommand::Tag(a) => tag::tag(&c, a).await,
            ImageCommand::History(a) => history::history(&c, a).await,
            ImageCommand::Prune(a) => images::prune(&c, a).await,
        },
        Command::Images(a) => images::images(&c, a).await,
        Command::Build(a) => build::build(&c, a).await,
        Command::Builder(bc) => match bc {
            BuilderCommand::Build(a) => build::build(&c, *a).await,
            BuilderCommand::Prune(a) => build::prune(&c, a).await,
        },
        Command::Import(a) => import::import(&c, a).await,
        Command::Load(a) => load::load(&c, a).await,
        Command::Pull(a) => pull::pull(&c, a).await,
        Command::Push(a) => pull::push(&c, a).await,
        Command::Login(a) => login::login(&c, a).await,
        Command::Logout(a) => login::logout(a).await,
        Command::Save(a) => save::save(&c, a).await,
        Command::Rmi(a) => rmi::rmi(&c, a).await,
        Command::Tag(a) => tag::tag(&c, a).await,
        Command::History(a) => history::history(&c, a).await,
        Command::Volume(vc) => match vc {
            VolumeCommand::Create(a) => volume::create(&c, a).await,
            VolumeCommand::Ls(a) => volume::ls(&c, a).await,
            VolumeCommand::Inspect(a) => {
                inspect::inspect(
                    &c,
                    crate::args::InspectArgs {
                        format: a.format,
                        kind: Some("volume".into()),
                        size: false,
                        names: a.names,
                    },
                )
                .await
            }
            VolumeCommand::Rm(a) => volume::rm(&c, a).await,
            VolumeCommand::Prune(a) => volume::prune(&c, a).await,
        },
        Command::System(sc) => match sc {
            SystemCommand::Info(a) => info::info(&c, a).await,
            SystemCommand::Df(a) => system::df(&c, a).await,
            SystemCommand::Prune(a) => system::prune(&c, a).await,
            SystemCommand::Events(a) => events::events(&c, a).await,
        },
        Command::Info(a) => info::info(&c, a).await,
        Command::Events(a) => events::events(&c, a).await,
        Command::Version(a) => version::version(cli.host.as_deref(), a).await,
    }
}
