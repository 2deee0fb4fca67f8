//! A stage's state while it builds: the run config so far, the ARGs in scope, the
//! shell; and the instructions that only change the config (ENV, LABEL, ARG,
//! EXPOSE, WORKDIR, USER, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK,
//! ONBUILD, MAINTAINER), applied as docker applies them.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::dockerfile::{expand, Command, Healthcheck, HealthcheckTest, Instruction};
use crate::images::ImageConfig;

pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Build args docker predefines: usable without an ARG line, never in the image.
pub const PREDEFINED_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

#[derive(Debug, Clone)]
pub struct StageState {
    pub config: ImageConfig,
    /// ARGs declared in this stage with a value.
    pub args: BTreeMap<String, String>,
    pub shell: Vec<String>,
    pub esc: char,
    /// CMD was set in this stage (a later ENTRYPOINT keeps it).
    cmd_set: bool,
}

/// What applying an instruction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// history `created_by`.
    pub created_by: String,
    /// Variables the instruction read, for the cache key.
    pub used: BTreeSet<String>,
}

impl StageState {
    pub fn new(config: ImageConfig, esc: char) -> StageState {
        let shell = config
            .extra
            .get("Shell")
            .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect());
        StageState {
            config,
            args: BTreeMap::new(),
            shell,
            esc,
            cmd_set: false,
        }
    }

    /// A variable for expansion: ENV wins over ARG, as in docker.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.config
            .env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
            .map(str::to_string)
            .or_else(|| self.args.get(name).cloned())
    }

    pub fn word(&self, raw: &str) -> Result<(String, BTreeSet<String>), String> {
        expand::word(raw, self.esc, &|n| self.lookup(n)).map_err(|e| e.to_string())
    }

    pub fn words(&self, raw: &str) -> Result<(Vec<String>, BTreeSet<String>), String> {
        expand::words(raw, self.esc, &|n| self.lookup(n)).map_err(|e| e.to_string())
    }

    /// The environment a RUN sees: the image's ENV, then the ARGs ENV does not set.
    pub fn run_env(&self) -> Vec<String> {
        let mut env = self.config.env.clone();
        for (k, v) in &self.args {
            if !env
                .iter()
                .any(|e| e.split_once('=').map(|(n, _)| n) == Some(k.as_str()))
            {
                env.push(format!("{k}={v}"));
            }
        }
        env
    }

    /// The argv of a command in exec or shell form.
    pub fn argv(&self, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }

    fn set_env(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        match self
            .config
            .env
            .iter_mut()
            .find(|e| e.split_once('=').map(|(n, _)| n) == Some(name))
        {
            Some(slot) => *slot = entry,
            None => self.config.env.push(entry),
        }
    }

    /// `ARG` in a stage: the --build-arg value, else the default, else a meta ARG of
    /// the same name (a re-declaration), else unset.
    pub fn declare_arg(
        &mut self,
        name: &str,
        default: Option<&str>,
        build_args: &HashMap<String, String>,
        meta_args: &HashMap<String, String>,
    ) -> Result<BTreeSet<String>, String> {
        let (value, used) = match (build_args.get(name), default) {
            (Some(v), _) => (Some(v.clone()), BTreeSet::new()),
            (None, Some(d)) => {
                let (v, used) = self.word(d)?;
                (Some(v), used)
            }
            (None, None) => (meta_args.get(name).cloned(), BTreeSet::new()),
        };
        if let Some(v) = value {
            self.args.insert(name.to_string(), v);
        }
        Ok(used)
    }

    /// Apply a config-only instruction. `None` for RUN, COPY, ADD, FROM and ARG
    /// (the executor's).
    pub fn apply(&mut self, ins: &Instruction) -> Option<Result<Applied, String>> {
        let executor_owns = matches!(
            ins,
            Instruction::Run(_)
                | Instruction::Copy(_)
                | Instruction::Add(_)
                | Instruction::From(_)
                | Instruction::Arg(_)
        );
        (!executor_owns).then(|| self.apply_inner(ins))
    }

    fn apply_inner(&mut self, ins: &Instruction) -> Result<Applied, String> {
        let mut used = BTreeSet::new();
        let created_by = match ins {
            Instruction::Env(pairs) => {
                // Every value sees the environment from before the instruction.
                let mut out = Vec::new();
                for (k, raw) in pairs {
                    let (v, u) = self.word(raw)?;
                    used.extend(u);
                    out.push((k.clone(), v));
                }
                for (k, v) in &out {
                    self.set_env(k, v);
                }
                let text: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("ENV {}", text.join(" "))
            }
            Instruction::Label(pairs) => {
                let mut text = Vec::new();
                for (k, raw) in pairs {
                    let (key, u1) = self.word(k)?;
                    let (v, u2) = self.word(raw)?;
                    used.extend(u1);
                    used.extend(u2);
                    text.push(format!("{key}={v}"));
                    self.config.labels.insert(key, v);
                }
                format!("LABEL {}", text.join(" "))
            }
            Instruction::Expose(ports) => {
                let mut text = Vec::new();
                for raw in ports {
                    let (ws, u) = self.words(raw)?;
                    used.extend(u);
                    for p in ws {
                        let p = if p.contains('/') {
                            p
                        } else {
                            format!("{p}/tcp")
                        };
                        text.push(p.clone());
                        self.config.exposed_ports.insert(p, serde_json::json!({}));
                    }
                }
                format!("EXPOSE {}", text.join(" "))
            }
            Instruction::Workdir(raw) => {
                let (w, u) = self.word(raw)?;
                used.extend(u);
                let base = if self.config.working_dir.is_empty() {
                    "/".to_string()
                } else {
                    self.config.working_dir.clone()
                };
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", base.trim_end_matches('/'))
                };
                self.config.working_dir = clean_abs(&joined);
                format!("WORKDIR {}", self.config.working_dir)
            }
            Instruction::User(raw) => {
                let (u, x) = self.word(raw)?;
                used.extend(x);
                self.config.user = u;
                format!("USER {}", self.config.user)
            }
            Instruction::Volume(paths) => {
                let mut text = Vec::new();
                for raw in paths {
                    let (ws, u) = self.words(raw)?;
                    used.extend(u);
                    for v in ws {
                        text.push(v.clone());
                        self.config.volumes.insert(v, serde_json::json!({}));
                    }
                }
                format!("VOLUME [{}]", text.join(" "))
            }
            Instruction::Cmd(c) => {
                self.config.cmd = Some(self.argv(c));
                self.cmd_set = true;
                format!(
                    "CMD {}",
                    json_list(self.config.cmd.as_deref().unwrap_or(&[]))
                )
            }
            Instruction::Entrypoint(c) => {
                self.config.entrypoint = Some(self.argv(c));
                // A new ENTRYPOINT drops an inherited CMD, not one set in this stage.
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                format!(
                    "ENTRYPOINT {}",
                    json_list(self.config.entrypoint.as_deref().unwrap_or(&[]))
                )
            }
            Instruction::Shell(sh) => {
                self.shell = sh.clone();
                self.config
                    .extra
                    .insert("Shell".into(), serde_json::json!(sh));
                format!("SHELL {}", json_list(sh))
            }
            Instruction::Stopsignal(raw) => {
                let (s, u) = self.word(raw)?;
                used.extend(u);
                self.config.stop_signal = Some(s.clone());
                format!("STOPSIGNAL {s}")
            }
            Instruction::Healthcheck(h) => {
                self.config
                    .extra
                    .insert("Healthcheck".into(), healthcheck_json(h));
                "HEALTHCHECK".into()
            }
            Instruction::Onbuild(text) => {
                let list = self
                    .config
                    .extra
                    .entry("OnBuild")
                    .or_insert_with(|| serde_json::json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(serde_json::json!(text));
                }
                format!("ONBUILD {text}")
            }
            Instruction::Maintainer(m) => format!("MAINTAINER {m}"),
            Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::From(_)
            | Instruction::Arg(_) => String::new(),
        };
        Ok(Applied { created_by, used })
    }
}

fn healthcheck_json(h: &Healthcheck) -> serde_json::Value {
    let test = match &h.test {
        HealthcheckTest::None => vec!["NONE".to_string()],
        HealthcheckTest::Cmd(Command::Exec(v)) => std::iter::once("CMD".to_string())
            .chain(v.iter().cloned())
            .collect(),
        HealthcheckTest::Cmd(Command::Shell(s)) => vec!["CMD-SHELL".to_string(), s.clone()],
    };
    let mut v = serde_json::json!({ "Test": test });
    let ns = |d: &std::time::Duration| serde_json::json!(d.as_nanos() as u64);
    if let Some(d) = &h.interval {
        v["Interval"] = ns(d);
    }
    if let Some(d) = &h.timeout {
        v["Timeout"] = ns(d);
    }
    if let Some(d) = &h.start_period {
        v["StartPeriod"] = ns(d);
    }
    if let Some(d) = &h.start_interval {
        v["StartInterval"] = ns(d);
    }
    if let Some(r) = h.retries {
        v["Retries"] = serde_json::json!(r);
    }
    v
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `/a/./b/../c/` → `/a/c`.
pub fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;

    fn run(df: &str) -> StageState {
        let d = parse(df).unwrap();
        let mut st = StageState::new(ImageConfig::default(), '\\');
        for step in &d.stages[0].steps {
            if let Instruction::Arg(decls) = &step.instruction {
                for a in decls {
                    st.declare_arg(
                        &a.name,
                        a.default.as_deref(),
                        &HashMap::new(),
                        &HashMap::new(),
                    )
                    .unwrap();
                }
                continue;
            }
            st.apply(&step.instruction).expect("config step").unwrap();
        }
        st
    }

    #[test]
    fn env_label_workdir_user_expose_volume() {
        let st = run("FROM x\nARG V=1\nENV A=a B=\"b $A\" V=env$V\nENV C=$A-$B\nLABEL \"l.k\"=\"$C\"\nWORKDIR /w\nWORKDIR sub/../x\nUSER ${V}\nEXPOSE 80 53/udp\nVOLUME /data \"/logs\"\nSTOPSIGNAL SIGINT\n");
        assert_eq!(st.config.env, ["A=a", "B=b ", "V=env1", "C=a-b "]);
        assert_eq!(
            st.config.labels.get("l.k").map(String::as_str),
            Some("a-b ")
        );
        assert_eq!(st.config.working_dir, "/w/x");
        assert_eq!(st.config.user, "env1", "ENV wins over ARG");
        assert!(
            st.config.exposed_ports.contains_key("80/tcp")
                && st.config.exposed_ports.contains_key("53/udp")
        );
        assert!(st.config.volumes.contains_key("/data") && st.config.volumes.contains_key("/logs"));
        assert_eq!(st.config.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(st.run_env(), ["A=a", "B=b ", "V=env1", "C=a-b "]);
    }

    #[test]
    fn cmd_entrypoint_and_shell_interplay() {
        let base = ImageConfig {
            cmd: Some(vec!["inherited".into()]),
            ..Default::default()
        };
        let d = parse("FROM x\nENTRYPOINT [\"ep\"]\n").unwrap();
        let mut st = StageState::new(base.clone(), '\\');
        st.apply(&d.stages[0].steps[0].instruction)
            .unwrap()
            .unwrap();
        assert_eq!(
            st.config.cmd, None,
            "a new ENTRYPOINT drops the inherited CMD"
        );
        let d = parse("FROM x\nCMD [\"mine\"]\nENTRYPOINT echo hi\nSHELL [\"/bin/bash\", \"-c\"]\nCMD run me\n").unwrap();
        let mut st = StageState::new(base, '\\');
        for s in &d.stages[0].steps[..2] {
            st.apply(&s.instruction).unwrap().unwrap();
        }
        assert_eq!(st.config.cmd, Some(vec!["mine".to_string()]));
        assert_eq!(
            st.config.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        for s in &d.stages[0].steps[2..] {
            st.apply(&s.instruction).unwrap().unwrap();
        }
        assert_eq!(
            st.config.cmd,
            Some(vec!["/bin/bash".into(), "-c".into(), "run me".into()])
        );
        assert!(st.config.extra.contains_key("Shell"));
    }

    #[test]
    fn args_from_build_args_defaults_and_meta() {
        let mut st = StageState::new(ImageConfig::default(), '\\');
        let build: HashMap<String, String> = [("A".to_string(), "cli".to_string())].into();
        let meta: HashMap<String, String> = [("M".to_string(), "meta".to_string())].into();
        st.declare_arg("A", Some("def"), &build, &meta).unwrap();
        st.declare_arg("B", Some("$A-x"), &build, &meta).unwrap();
        st.declare_arg("M", None, &build, &meta).unwrap();
        st.declare_arg("U", None, &build, &meta).unwrap();
        assert_eq!(st.args.get("A").map(String::as_str), Some("cli"));
        assert_eq!(st.args.get("B").map(String::as_str), Some("cli-x"));
        assert_eq!(st.args.get("M").map(String::as_str), Some("meta"));
        assert!(!st.args.contains_key("U"));
        assert_eq!(st.run_env(), ["A=cli", "B=cli-x", "M=meta"]);
    }

    #[test]
    fn healthcheck_in_docker_shape() {
        let st =
            run("FROM x\nHEALTHCHECK --interval=5s --retries=2 CMD curl -f http://localhost/\n");
        let h = &st.config.extra["Healthcheck"];
        assert_eq!(
            h["Test"],
            serde_json::json!(["CMD-SHELL", "curl -f http://localhost/"])
        );
        assert_eq!(h["Interval"], 5_000_000_000u64);
        assert_eq!(h["Retries"], 2);
    }
}
