//! The stage graph: which stages a target needs, what each starts from, and an order
//! in which every stage comes after the stages it reads (FROM a stage, COPY --from,
//! RUN --mount=from=). Stages the target does not reach are not built.
use std::collections::HashMap;

use super::dockerfile::{expand, Dockerfile, Instruction};

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An image reference (FROM expanded with the meta ARGs).
    Image(String),
    /// An earlier stage of this Dockerfile.
    Stage(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    pub index: usize,
    pub base: Base,
    /// Stages this one reads besides its base (COPY --from, RUN --mount=from).
    pub reads: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Needed stages, each after everything it depends on; the target last.
    pub order: Vec<PlannedStage>,
    /// Meta ARG values (defaults, then --build-arg), for FROM and re-declarations.
    pub meta_args: HashMap<String, String>,
    pub target: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("target stage {0:?} could not be found in the Dockerfile")]
    NoTarget(String),
    #[error("Dockerfile:{line}: {message}")]
    Line { line: usize, message: String },
    #[error("Dockerfile:{line}: stage {stage} depends on itself through {path}")]
    Cycle {
        line: usize,
        stage: String,
        path: String,
    },
}

/// Plan the build of `target` (the last stage when `None`).
pub fn plan(
    df: &Dockerfile,
    build_args: &HashMap<String, String>,
    target: Option<&str>,
) -> Result<Plan, PlanError> {
    let esc = df.directives.escape;
    let mut meta_args: HashMap<String, String> = HashMap::new();
    for (line, decl) in &df.meta_args {
        let value = match build_args.get(&decl.name) {
            Some(v) => Some(v.clone()),
            None => decl
                .default
                .as_ref()
                .map(|d| {
                    let env = |n: &str| meta_args.get(n).cloned();
                    expand::word(d, esc, &env).map(|(w, _)| w)
                })
                .transpose()
                .map_err(|e| PlanError::Line {
                    line: *line,
                    message: format!("ARG {}: {e}", decl.name),
                })?,
        };
        if let Some(v) = value {
            meta_args.insert(decl.name.clone(), v);
        }
    }
    let target = match target {
        Some(t) => df
            .stage_index(t)
            .ok_or_else(|| PlanError::NoTarget(t.to_string()))?,
        None => df.stages.len() - 1,
    };

    // Base and reads of every stage; names resolve to stages defined before it
    // (docker's rule: a later or unknown name is an image).
    let mut bases = Vec::with_capacity(df.stages.len());
    let mut reads: Vec<Vec<(usize, usize)>> = Vec::with_capacity(df.stages.len());
    let earlier = |name: &str, before: usize| df.stage_index(name).filter(|i| *i < before);
    for (i, st) in df.stages.iter().enumerate() {
        let env = |n: &str| meta_args.get(n).cloned();
        let (image, _) = expand::word(&st.from.image, esc, &env).map_err(|e| PlanError::Line {
            line: st.line,
            message: format!("FROM {}: {e}", st.from.image),
        })?;
        if image.is_empty() {
            return Err(PlanError::Line {
                line: st.line,
                message: format!(
                    "FROM {}: the image name is empty after expansion",
                    st.from.image
                ),
            });
        }
        let base = if image.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else if let Some(j) = earlier(&image, i) {
            Base::Stage(j)
        } else if df.stage_index(&image).is_some_and(|j| j == i) {
            return Err(PlanError::Cycle {
                line: st.line,
                stage: image,
                path: "its own FROM".into(),
            });
        } else {
            Base::Image(image)
        };
        bases.push(base);
        let mut r = Vec::new();
        for step in &st.steps {
            let from = match &step.instruction {
                Instruction::Copy(c) => c.from.clone().into_iter().collect::<Vec<_>>(),
                Instruction::Run(run) => run
                    .mounts
                    .iter()
                    .filter_map(|m| {
                        m.split(',')
                            .find_map(|kv| kv.strip_prefix("from=").map(str::to_string))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for name in from {
                let (name, _) = expand::word(&name, esc, &|_| None)
                    .unwrap_or((name.clone(), Default::default()));
                match df.stage_index(&name) {
                    Some(j) if j == i => {
                        return Err(PlanError::Cycle {
                            line: step.line,
                            stage: df.stages[i].name.clone().unwrap_or_else(|| i.to_string()),
                            path: format!("{} at line {}", step.text, step.line),
                        })
                    }
                    Some(j) => r.push((j, step.line)),
                    // Not a stage: an image, pulled by the executor.
                    None => {}
                }
            }
        }
        reads.push(r);
    }

    // Depth-first from the target; a stage on the current path again is a cycle.
    let mut order = Vec::new();
    let mut state = vec![0u8; df.stages.len()]; // 0 new, 1 on path, 2 done
    visit(
        df,
        target,
        &bases,
        &reads,
        &mut state,
        &mut Vec::new(),
        &mut order,
    )?;
    Ok(Plan {
        order,
        meta_args,
        target,
    })
}

fn visit(
    df: &Dockerfile,
    i: usize,
    bases: &[Base],
    reads: &[Vec<(usize, usize)>],
    state: &mut [u8],
    path: &mut Vec<usize>,
    order: &mut Vec<PlannedStage>,
) -> Result<(), PlanError> {
    match state[i] {
        2 => return Ok(()),
        1 => {
            let name = |k: usize| df.stages[k].name.clone().unwrap_or_else(|| k.to_string());
            let from = path.iter().position(|k| *k == i).unwrap_or(0);
            let mut names: Vec<String> = path[from..].iter().map(|k| name(*k)).collect();
            names.push(name(i));
            return Err(PlanError::Cycle {
                line: df.stages[i].line,
                stage: name(i),
                path: names.join(" -> "),
            });
        }
        _ => {}
    }
    state[i] = 1;
    path.push(i);
    let mut deps: Vec<usize> = reads[i].iter().map(|(j, _)| *j).collect();
    if let Base::Stage(j) = bases[i] {
        deps.insert(0, j);
    }
    for j in &deps {
        visit(df, *j, bases, reads, state, path, order)?;
    }
    path.pop();
    state[i] = 2;
    let mut r: Vec<usize> = reads[i].iter().map(|(j, _)| *j).collect();
    r.dedup();
    order.push(PlannedStage {
        index: i,
        base: bases[i].clone(),
        reads: r,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;

    fn args(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_needed_stages_in_dependency_order() {
        let df = parse(
            "ARG BASE=busybox\nFROM $BASE AS a\nFROM scratch AS unused\nRUN x\nFROM a AS b\nCOPY --from=c /x /x\nFROM alpine AS c\nFROM b\nCOPY --from=a /y /y\n",
        )
        .unwrap();
        let p = plan(&df, &HashMap::new(), None).unwrap();
        let idx: Vec<usize> = p.order.iter().map(|s| s.index).collect();
        // c is defined after b but b reads it: COPY --from resolves any stage.
        assert_eq!(idx, [0, 3, 2, 4]);
        assert_eq!(p.order[0].base, Base::Image("busybox".into()));
        assert_eq!(p.order[2].base, Base::Stage(0));
        assert_eq!(p.order[2].reads, [3]);
        assert_eq!(p.target, 4);
        let p = plan(&df, &args(&[("BASE", "debian")]), Some("A")).unwrap();
        assert_eq!(p.order.len(), 1);
        assert_eq!(p.order[0].base, Base::Image("debian".into()));
        assert_eq!(
            plan(&df, &HashMap::new(), Some("nope")).unwrap_err(),
            PlanError::NoTarget("nope".into())
        );
    }

    #[test]
    fn cycles_and_self_references_are_errors() {
        let df = parse("FROM busybox AS a\nCOPY --from=b /x /x\nFROM a AS b\n").unwrap();
        let e = plan(&df, &HashMap::new(), None).unwrap_err();
        assert!(matches!(e, PlanError::Cycle { .. }), "{e}");
        assert!(
            e.to_string().contains("a -> b -> a") || e.to_string().contains("b -> a -> b"),
            "{e}"
        );
        let df = parse("FROM busybox AS a\nCOPY --from=a /x /y\n").unwrap();
        let e = plan(&df, &HashMap::new(), None).unwrap_err();
        assert!(e.to_string().starts_with("Dockerfile:2:"), "{e}");
        // FROM of a later stage's name is an image, as in docker.
        let df = parse("FROM b AS a\nFROM busybox AS b\n").unwrap();
        let p = plan(&df, &HashMap::new(), Some("a")).unwrap();
        assert_eq!(p.order[0].base, Base::Image("b".into()));
    }

    #[test]
    fn meta_args_from_defaults_and_build_args() {
        let df = parse("ARG A=1\nARG B=${A}-x\nARG C\nFROM img:$B$C\n").unwrap();
        let p = plan(&df, &HashMap::new(), None).unwrap();
        assert_eq!(p.order[0].base, Base::Image("img:1-x".into()));
        let p = plan(&df, &args(&[("A", "9"), ("C", "z")]), None).unwrap();
        assert_eq!(p.order[0].base, Base::Image("img:9-xz".into()));
        assert_eq!(p.meta_args.get("C").map(String::as_str), Some("z"));
        let df = parse("ARG E\nFROM ${E}\n").unwrap();
        assert!(plan(&df, &HashMap::new(), None).is_err());
    }
}
