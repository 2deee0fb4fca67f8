//! `create`: reserve the name and write the record with a `Create` intent,
//! build rootfs, volumes and bundle, then store the result (intent cleared,
//! volume claims) in one transaction; undo everything on failure. A crash
//! in between leaves the intent, and start-up removes the half-made container.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::bundle;
use super::health::HealthConfig;
use super::image_source::{ImageError, ImageInfo};
use super::names;
use super::record::{
    Container, Intent, MountKind, MountPoint, MountSpec, Spec, State, DEFAULT_STOP_TIMEOUT,
};
use super::validate;
use super::{interrupted, io_err, Containers, Error, Result};
use crate::metadata::{self, Table};
use crate::security;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Merges `KEY=VALUE` lists; later entries win, order of first appearance kept.
fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in base.iter().chain(over) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match out
            .iter_mut()
            .find(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

/// Entrypoint + cmd as docker combines them: a user entrypoint drops the
/// image's cmd; a user cmd replaces the image's cmd.
fn command(spec: &Spec, image: &ImageInfo) -> Vec<String> {
    let (entrypoint, image_cmd) = match &spec.entrypoint {
        Some(ep) => (ep.clone(), Vec::new()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            image.cmd.clone().unwrap_or_default(),
        ),
    };
    let cmd = if spec.cmd.is_empty() {
        image_cmd
    } else {
        spec.cmd.clone()
    };
    entrypoint.into_iter().chain(cmd).collect()
}

impl Containers {
    /// Creates a container; returns its ID and warnings for the user.
    pub async fn create(&self, spec: Spec) -> Result<(String, Vec<String>)> {
        let this = self.clone();
        let name = spec.name.clone();
        tokio::task::spawn_blocking(move || this.create_blocking(spec))
            .await
            .map_err(interrupted("creating", &name))?
    }

    fn create_blocking(&self, mut spec: Spec) -> Result<(String, Vec<String>)> {
        let warnings = validate::check(&mut spec, &self.inner.settings)?;
        let image = self
            .inner
            .images
            .resolve(&spec.image)
            .map_err(|e| match e {
                ImageError::NotFound { .. } => Error::NoSuchImage {
                    reference: spec.image.clone(),
                },
                ImageError::Other { message } => Error::Image {
                    reference: spec.image.clone(),
                    message,
                },
            })?;
        let argv = command(&spec, &image);
        let Some((path, args)) = argv.split_first() else {
            return Err(Error::NoCommand);
        };

        let id = names::new_id();
        let hostname = if spec.hostname.is_empty() {
            if spec.network_mode.is_host() {
                nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| id[..12].to_string())
            } else {
                id[..12].to_string()
            }
        } else {
            spec.hostname.clone()
        };
        let mut env = merge_env(&image.env, &spec.env);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        env = merge_env(&[format!("HOSTNAME={hostname}")], &env);
        if spec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".to_string());
        }
        let dir = self.container_dir(&id);
        let c = Container {
            id: id.clone(),
            name: spec.name.clone(),
            created: Utc::now(),
            image_id: image.id.clone(),
            path: path.clone(),
            args: args.to_vec(),
            env,
            working_dir: if spec.working_dir.is_empty() {
                image.working_dir.clone()
            } else {
                spec.working_dir.clone()
            },
            user: if spec.user.is_empty() {
                image.user.clone()
            } else {
                spec.user.clone()
            },
            hostname,
            stop_signal: if !spec.stop_signal.is_empty() {
                spec.stop_signal.clone()
            } else {
                image
                    .stop_signal
                    .clone()
                    .unwrap_or_else(|| "SIGTERM".to_string())
            },
            stop_timeout: spec.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT),
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            intent: Some(Intent::Create),
            mounts: Vec::new(),
            log_path: dir.join(format!("{id}-json.log")),
            dir,
            healthcheck: HealthConfig::resolve(
                spec.healthcheck.as_ref(),
                image.healthcheck.as_ref(),
            ),
            spec,
        };
        let c = self.reserve(c)?;
        let mut made = c.clone();
        match self.build(&mut made, &image) {
            Ok(()) => {
                self.publish(&made, "create", &[]);
                Ok((made.id, warnings))
            }
            Err(e) => {
                self.undo_create(&made);
                Err(e)
            }
        }
    }

    /// Takes the name (a random one when none was given) and writes the record,
    /// in one transaction.
    fn reserve(&self, mut c: Container) -> Result<Container> {
        let explicit = !c.name.is_empty();
        for attempt in 0..10 {
            if !explicit {
                c.name = names::random(attempt);
            }
            let r = self.inner.store.update(|tx| {
                if let Some(id) = tx.get::<String>(Table::ContainerNames, &c.name)? {
                    return Ok::<_, metadata::Error>(Some(id));
                }
                tx.put(Table::ContainerNames, &c.name, &c.id)?;
                tx.put(Table::Containers, &c.id, &c)?;
                Ok(None)
            })?;
            match r {
                None => return Ok(c),
                Some(id) if explicit => {
                    return Err(Error::NameInUse {
                        name: c.name.clone(),
                        id,
                    })
                }
                Some(_) => continue,
            }
        }
        Err(Error::InvalidArgument {
            message: "could not pick a free random name; pass --name".to_string(),
        })
    }

    /// Directory, rootfs, volumes, hosts files and config.json, then the
    /// result. `c.mounts` grows as volumes are made, so an undo finds them.
    fn build(&self, c: &mut Container, image: &ImageInfo) -> Result<()> {
        // First, so bad options fail before anything is made.
        let confined = security::confine(&c.spec.security, &self.inner.settings.confinement)?;
        std::fs::create_dir_all(&c.dir).map_err(io_err(&c.id, &c.dir))?;
        let rootfs = self
            .inner
            .images
            .prepare_rootfs(&c.id, &image.id, confined.userns.map(|r| r.shift()))
            .map_err(|e| Error::Image {
                reference: c.spec.image.clone(),
                message: e.to_string(),
            })?;
        let user_targets: Vec<String> = c.spec.mounts.iter().map(|m| m.target.clone()).collect();
        for m in c.spec.mounts.clone() {
            let point = self.mount_point(&m, confined.userns)?;
            c.mounts.push(point);
        }
        for target in &image.volumes {
            if !user_targets.iter().any(|t| t == target) {
                let anonymous = MountSpec {
                    target: target.clone(),
                    ..Default::default()
                };
                let point = self.mount_point(&anonymous, confined.userns)?;
                c.mounts.push(point);
            }
        }
        for m in &c.mounts {
            if m.kind == MountKind::Volume {
                copy_up(&rootfs, &m.destination, &m.source);
            }
        }
        let bundle_err = |id: &str| {
            let id = id.to_string();
            move |source| Error::Bundle { id, source }
        };
        bundle::write_etc_files(c).map_err(bundle_err(&c.id))?;
        let user = bundle::resolve_user(&rootfs, &c.user).map_err(bundle_err(&c.id))?;
        let init = if c.spec.init {
            self.inner.settings.init_path.as_deref()
        } else {
            None
        };
        let config = bundle::config(c, &user, init, &confined).map_err(bundle_err(&c.id))?;
        bundle::write_config(&c.dir, &config).map_err(bundle_err(&c.id))?;
        self.finish_create(c)
    }

    /// The result of `create`: the finished record with its intent cleared
    /// and its volumes' claims, in one transaction, so no claim exists
    /// without its owner. Fails if the record went meanwhile (an `rm -f` of
    /// the half-made container).
    fn finish_create(&self, c: &mut Container) -> Result<()> {
        c.intent = None;
        let volumes = &self.inner.volumes;
        self.inner.store.update(|tx| {
            if !tx.contains(Table::Containers, &c.id)? {
                return Err(Error::NotFound {
                    reference: c.name.clone(),
                });
            }
            for m in c.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                volumes.claim(tx, &m.name, &c.id)?;
            }
            tx.put(Table::Containers, &c.id, &*c)?;
            Ok(())
        })?;
        self.inner.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Undoes a failed create: everything `destroy_blocking` removes, and the
    /// anonymous volumes made for it (nobody else can have claimed them).
    fn undo_create(&self, c: &Container) {
        if let Err(e) = self.destroy_blocking(c) {
            tracing::warn!(id = %c.id, error = %e, "undoing a failed create");
        }
        self.remove_anonymous_volumes(c);
    }

    fn mount_point(&self, m: &MountSpec, remap: Option<security::Remap>) -> Result<MountPoint> {
        let mut point = MountPoint {
            kind: m.kind,
            destination: m.target.clone(),
            rw: !m.read_only,
            ..Default::default()
        };
        match m.kind {
            MountKind::Volume => {
                let anonymous = m.source.is_empty();
                let name = if anonymous {
                    names::new_id()
                } else {
                    m.source.clone()
                };
                let v = self.inner.volumes.prepare(&name, anonymous)?;
                if let Some(r) = remap {
                    hand_to_remapped_root(&v.mountpoint, r);
                }
                point.name = v.name;
                point.source = v.mountpoint;
                point.anonymous = anonymous;
            }
            MountKind::Bind => point.source = PathBuf::from(&m.source),
            MountKind::Tmpfs => point.tmpfs = m.tmpfs.clone(),
        }
        Ok(point)
    }
}

/// A new (empty, root-owned) volume under a remap belongs to the
/// container's root, so it can write there, as with docker.
fn hand_to_remapped_root(data: &Path, r: security::Remap) {
    use std::os::unix::fs::MetadataExt;
    let fresh = std::fs::metadata(data).is_ok_and(|m| m.uid() == 0 && m.gid() == 0)
        && std::fs::read_dir(data).is_ok_and(|mut d| d.next().is_none());
    if fresh {
        let owner = (
            Some(nix::unistd::Uid::from_raw(r.uid)),
            Some(nix::unistd::Gid::from_raw(r.gid)),
        );
        if let Err(e) = nix::unistd::chown(data, owner.0, owner.1) {
            tracing::warn!(path = %data.display(), error = %e, "handing a volume to the remapped root");
        }
    }
}

/// docker copies the image's files at a volume's mount point into a new, empty
/// volume. Best effort: a volume the copy cannot fill starts empty.
fn copy_up(rootfs: &Path, target: &str, volume: &Path) {
    let src = rootfs.join(target.trim_start_matches('/'));
    let empty = std::fs::read_dir(volume)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    // Only a real directory of the image, never a symlink that could point out.
    let is_dir = std::fs::symlink_metadata(&src)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if !empty || !is_dir || !src.starts_with(rootfs) {
        return;
    }
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg("--no-dereference")
        .arg(format!("{}/.", src.display()))
        .arg(volume)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        tracing::warn!(target, "could not copy the image's files into the volume");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn env_merge_keeps_order_and_overrides() {
        assert_eq!(
            merge_env(&s(&["PATH=/bin", "A=1"]), &s(&["A=2", "B=3"])),
            s(&["PATH=/bin", "A=2", "B=3"])
        );
    }

    #[test]
    fn entrypoint_and_cmd_combine_like_docker() {
        let image = ImageInfo {
            entrypoint: Some(s(&["/ep"])),
            cmd: Some(s(&["default"])),
            ..Default::default()
        };
        let mut spec = Spec::default();
        assert_eq!(command(&spec, &image), s(&["/ep", "default"]));
        spec.cmd = s(&["x"]);
        assert_eq!(command(&spec, &image), s(&["/ep", "x"]));
        spec.entrypoint = Some(s(&["sh", "-c"]));
        spec.cmd = vec![];
        assert_eq!(command(&spec, &image), s(&["sh", "-c"]));
        spec.entrypoint = Some(vec![]);
        assert!(command(&spec, &ImageInfo::default()).is_empty());
    }
}
