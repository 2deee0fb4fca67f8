use super::*;
use std::time::Duration;

const EVERYTHING: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
ARG TAG
FROM --platform=linux/amd64 ${BASE}:${TAG:-latest} AS Build
run --mount=type=cache,target=/cache --network=none echo "a b" \
    && echo c
RUN ["/bin/sh", "-c", "echo exec"]
RUN [not json
CMD ["sh"]
ENTRYPOINT echo hi
SHELL ["/bin/sh", "-ec"]
ENV A=1 B="two words" C=$A
ENV LEGACY value with spaces
LABEL org.x="y z" k=v
ARG V=1 W
EXPOSE 80/tcp 53/udp
COPY --from=0 --chown=1:2 --chmod=0644 --link --exclude=*.tmp a "b c" /dst/
COPY ["x y", "/z"]
ADD --checksum=sha256:abc https://example.invalid/f /f
WORKDIR /w
USER 1000:1000
VOLUME ["/data", "/logs"]
VOLUME /v1 /v2
ONBUILD RUN make
STOPSIGNAL SIGINT
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=3 CMD ["true"]
MAINTAINER someone
FROM scratch
HEALTHCHECK NONE
COPY <<EOF /hello
hi $A
EOF
"#;

#[test]
fn every_instruction() {
    let d = parse(EVERYTHING).unwrap();
    assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(
        d.meta_args
            .iter()
            .map(|(l, a)| (*l, a.name.as_str(), a.default.as_deref()))
            .collect::<Vec<_>>(),
        [(2, "BASE", Some("busybox")), (3, "TAG", None)]
    );
    assert_eq!(d.stages.len(), 2);
    let s = &d.stages[0];
    assert_eq!(
        s.from,
        From {
            image: "${BASE}:${TAG:-latest}".into(),
            alias: Some("build".into()),
            platform: Some("linux/amd64".into()),
        }
    );
    assert_eq!(d.stage_index("BUILD"), Some(0));
    assert_eq!(d.stage_index("1"), Some(1));
    assert_eq!(d.stage_index("nope"), None);
    let ins: Vec<&Instruction> = s.steps.iter().map(|st| &st.instruction).collect();
    let Instruction::Run(run) = ins[0] else {
        panic!("{:?}", ins[0])
    };
    assert_eq!(
        run.command,
        Command::Shell("echo \"a b\"     && echo c".into())
    );
    assert_eq!(run.mounts, ["type=cache,target=/cache"]);
    assert_eq!(run.network.as_deref(), Some("none"));
    assert_eq!(s.steps[0].line, 5);
    assert_eq!(s.steps[0].end_line, 6);
    assert!(s.steps[0].text.starts_with("RUN --mount"));
    assert_eq!(
        *ins[1],
        Instruction::Run(Run {
            command: Command::Exec(vec!["/bin/sh".into(), "-c".into(), "echo exec".into()]),
            mounts: vec![],
            network: None,
            security: None,
            heredocs: vec![],
        })
    );
    let Instruction::Run(bad_json) = ins[2] else {
        panic!()
    };
    assert_eq!(bad_json.command, Command::Shell("[not json".into()));
    assert_eq!(*ins[3], Instruction::Cmd(Command::Exec(vec!["sh".into()])));
    assert_eq!(
        *ins[4],
        Instruction::Entrypoint(Command::Shell("echo hi".into()))
    );
    assert_eq!(
        *ins[5],
        Instruction::Shell(vec!["/bin/sh".into(), "-ec".into()])
    );
    assert_eq!(
        *ins[6],
        Instruction::Env(vec![
            ("A".into(), "1".into()),
            ("B".into(), "\"two words\"".into()),
            ("C".into(), "$A".into())
        ])
    );
    assert_eq!(
        *ins[7],
        Instruction::Env(vec![("LEGACY".into(), "value with spaces".into())])
    );
    assert_eq!(
        *ins[8],
        Instruction::Label(vec![
            ("org.x".into(), "\"y z\"".into()),
            ("k".into(), "v".into())
        ])
    );
    assert_eq!(
        *ins[9],
        Instruction::Arg(vec![
            ArgDecl {
                name: "V".into(),
                default: Some("1".into())
            },
            ArgDecl {
                name: "W".into(),
                default: None
            }
        ])
    );
    assert_eq!(
        *ins[10],
        Instruction::Expose(vec!["80/tcp".into(), "53/udp".into()])
    );
    let Instruction::Copy(c) = ins[11] else {
        panic!()
    };
    assert_eq!(c.sources, ["a", "\"b c\""]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("0"));
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.chmod.as_deref(), Some("0644"));
    assert!(c.link && !c.parents);
    assert_eq!(c.exclude, ["*.tmp"]);
    let Instruction::Copy(c) = ins[12] else {
        panic!()
    };
    assert_eq!(
        (c.sources.as_slice(), c.dest.as_str()),
        (&["x y".to_string()][..], "/z")
    );
    let Instruction::Add(a) = ins[13] else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(*ins[14], Instruction::Workdir("/w".into()));
    assert_eq!(*ins[15], Instruction::User("1000:1000".into()));
    assert_eq!(
        *ins[16],
        Instruction::Volume(vec!["/data".into(), "/logs".into()])
    );
    assert_eq!(
        *ins[17],
        Instruction::Volume(vec!["/v1".into(), "/v2".into()])
    );
    assert_eq!(*ins[18], Instruction::Onbuild("RUN make".into()));
    assert_eq!(*ins[19], Instruction::Stopsignal("SIGINT".into()));
    assert_eq!(
        *ins[20],
        Instruction::Healthcheck(Healthcheck {
            test: HealthcheckTest::Cmd(Command::Exec(vec!["true".into()])),
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_millis(500)),
            start_period: Some(Duration::from_secs(2)),
            start_interval: None,
            retries: Some(3),
        })
    );
    assert_eq!(*ins[21], Instruction::Maintainer("someone".into()));

    let s = &d.stages[1];
    assert_eq!(s.from.image, "scratch");
    assert_eq!(s.name, None);
    let Instruction::Healthcheck(h) = &s.steps[0].instruction else {
        panic!()
    };
    assert_eq!(h.test, HealthcheckTest::None);
    let Instruction::Copy(c) = &s.steps[1].instruction else {
        panic!()
    };
    assert_eq!(c.sources, ["<<EOF"]);
    assert_eq!(c.heredocs[0].body, "hi $A\n");
    assert_eq!((s.steps[1].line, s.steps[1].end_line), (30, 32));
}

fn error_of(text: &str) -> ParseError {
    parse(text).expect_err(text)
}

#[test]
fn errors_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("FROM a\nFOO bar\n", 2, "unknown instruction: FOO"),
        ("FROM a\nRUN\n", 2, "RUN requires a command"),
        ("FROM\n", 1, "FROM requires an image"),
        ("FROM a b c d\n", 1, "FROM takes an image"),
        ("FROM a AS 1x\n", 1, "invalid stage name"),
        ("FROM a AS x\nFROM b AS X\n", 2, "duplicate stage name"),
        ("RUN true\nFROM a\n", 1, "before the first FROM"),
        ("ARG X\n", 1, "no FROM"),
        ("FROM a\nCOPY onlyone\n", 2, "at least two arguments"),
        ("FROM a\nCOPY --frm=x a b\n", 2, "unknown flag --frm"),
        ("FROM a\nWORKDIR --x=1 /w\n", 2, ""),
        ("FROM a\nSHELL sh -c\n", 2, "JSON form"),
        ("FROM a\nENV A=1 B\n", 2, "can't find ="),
        ("FROM a\nENV =x\n", 2, "can not be blank"),
        ("FROM a\nENV LONELY\n", 2, "has no value"),
        ("FROM a\nLABEL a=\"open\n", 2, "unterminated quote"),
        (
            "FROM a\nONBUILD FROM b\n",
            2,
            "isn't allowed as an ONBUILD trigger",
        ),
        ("FROM a\nONBUILD BOGUS x\n", 2, "unknown instruction: BOGUS"),
        (
            "FROM a\nHEALTHCHECK --interval=soon CMD true\n",
            2,
            "not a duration",
        ),
        ("FROM a\nHEALTHCHECK --retries=0 CMD true\n", 2, "above 0"),
        ("FROM a\nHEALTHCHECK NONE x\n", 2, "no other arguments"),
        ("FROM a\nHEALTHCHECK\n", 2, "requires NONE or CMD"),
        ("FROM a\nVOLUME [\"\"]\n", 2, "empty string"),
        (
            "FROM a\nRUN <<EOF\nnever closed\n",
            2,
            "unterminated heredoc",
        ),
    ];
    for (text, line, needle) in cases {
        let e = error_of(text);
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(e.message.contains(needle), "{text:?}: {e}");
        assert!(
            e.to_string().starts_with(&format!("Dockerfile:{line}: ")),
            "{e}"
        );
    }
}

#[test]
fn escape_directive_changes_continuations() {
    let d = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo x\n").unwrap();
    let Instruction::Run(r) = &d.stages[0].steps[0].instruction else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("dir c:\\   && echo x".into()));
}

#[test]
fn go_durations() {
    use super::instruction::go_duration;
    assert_eq!(go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
    assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(go_duration("0"), Some(Duration::ZERO));
    assert_eq!(go_duration("10"), None);
    assert_eq!(go_duration("5d"), None);
    assert_eq!(go_duration(""), None);
}
