//! Where data paths lead, and the hints for what new users type: a data
//! root (`--data-root`, `LSMC_DATA_ROOT`) for relative data paths, missing
//! files named by their absolute path, quoting of `--set` strings, `K=3`
//! without `--set`, and `lsmc predict` reading sentences piped in.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `tests/data`, which holds `tiny_sst`.
fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lsmc-paths-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    // Canonical, as the messages show it.
    std::fs::canonicalize(&d).unwrap()
}

/// A tiny tree model over SST-format data at `path`.
fn tiny_spec(path: &str) -> String {
    format!(
        "model tiny\n\
         data sst(path = \"{path}\", labels = binary, embeddings = random(dim = 6))\n\
         encoder {{\n  e = embed(tokens, embeddings)\n  h = bilstm(e, 8)\n  s = arc_scores(h, 8)\n}}\n\
         latent z : dependency_tree(projective) = argmax(s) via spigot(eta = 1.0)\n\
         decoder {{\n  r = concat(h, heads(z, h))\n  y_hat = linear(attention_pool(r), 2)\n}}\n\
         loss cross_entropy(y_hat, y)\n\
         train {{\n  optimizer adamw(lr = 0.05)\n  batch 4\n  epochs 1\n  evaluate every 1 epochs on valid\n  metric accuracy(y_hat, y)\n}}\n"
    )
}

/// `tiny_spec(path)` written to `dir/tiny.lsm`, as a copied spec would be.
fn copied_spec(dir: &Path, path: &str) -> PathBuf {
    let file = dir.join("tiny.lsm");
    std::fs::write(&file, tiny_spec(path)).unwrap();
    file
}

/// `lsmc ARGS` from `dir`, without the caller's data root.
fn lsmc(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lsmc"));
    c.current_dir(dir)
        .args(args)
        .env_remove("LSMC_DATA_ROOT")
        .env_remove("NO_COLOR");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `lsmc train SPEC --out run --threads 1`, run in `dir`.
fn train_into_run(dir: &Path, spec: &Path) -> Command {
    lsmc(
        dir,
        &[
            "train",
            spec.to_str().unwrap(),
            "--out",
            "run",
            "--threads",
            "1",
        ],
    )
}

fn succeeds(o: Output) -> String {
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_data_root_given_with_the_flag_resolves_a_copied_specs_relative_path() {
    let dir = scratch("flag");
    let spec = copied_spec(&dir, "tiny_sst");
    let spec = spec.to_str().unwrap();
    let root = data();
    let root = root.to_str().unwrap();
    // Without a root the path is the spec's directory's, which lacks it.
    let o = lsmc(&dir, &["check", "--color", "never", spec])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    // The flag is global: before or after the command.
    for args in [
        vec!["--data-root", root, "check", spec],
        vec!["check", spec, "--data-root", root],
    ] {
        let out = succeeds(lsmc(&dir, &args).output().unwrap());
        let resolved = format!("{root}/tiny_sst");
        assert!(out.contains(&resolved), "{out}");
    }
    // A root that is no directory is refused before anything runs.
    let o = lsmc(&dir, &["check", spec, "--data-root", "no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--data-root `no/such/dir`: no such directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_data_root_in_lsmc_data_root_resolves_relative_paths_and_the_flag_overrides_it() {
    let dir = scratch("env");
    let spec = copied_spec(&dir, "tiny_sst");
    let spec = spec.to_str().unwrap();
    let root = data();
    succeeds(
        lsmc(&dir, &["check", spec])
            .env("LSMC_DATA_ROOT", &root)
            .output()
            .unwrap(),
    );
    // A relative root is taken from the working directory.
    succeeds(
        lsmc(Path::new(env!("CARGO_MANIFEST_DIR")), &["check", spec])
            .env("LSMC_DATA_ROOT", "tests/data")
            .output()
            .unwrap(),
    );
    // The flag wins over the variable.
    succeeds(
        lsmc(
            &dir,
            &["check", spec, "--data-root", root.to_str().unwrap()],
        )
        .env("LSMC_DATA_ROOT", &dir)
        .output()
        .unwrap(),
    );
    // `use` paths stay relative to their file, whatever the root.
    std::fs::write(dir.join("lib.lsm"), "param H = 8\n").unwrap();
    let with_use = format!("use \"lib.lsm\"\n{}", tiny_spec("tiny_sst"))
        .replace("bilstm(e, 8)", "bilstm(e, H)");
    std::fs::write(dir.join("uses.lsm"), with_use).unwrap();
    succeeds(
        lsmc(&dir, &["check", "uses.lsm"])
            .env("LSMC_DATA_ROOT", &root)
            .output()
            .unwrap(),
    );
}

#[test]
fn a_missing_data_path_is_shown_absolute_with_the_base_it_was_resolved_against() {
    let dir = scratch("missing");
    std::fs::create_dir_all(dir.join("specs")).unwrap();
    let spec = copied_spec(&dir.join("specs"), "../data/sst");
    let spec = spec.to_str().unwrap();
    let run = |cmd: Command| {
        let o = { cmd }.output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        // Joined again: miette wraps the help at spaces.
        stderr(&o).split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let d = dir.display();
    // Relative to the spec: `..` resolved.
    let err = run(lsmc(&dir, &["check", "--color", "never", spec]));
    assert!(err.contains("lsm::check::missing_data_file"), "{err}");
    assert!(err.contains(&format!("looked for `{d}/data/sst`")), "{err}");
    assert!(
        err.contains("resolves against the spec's directory"),
        "{err}"
    );
    assert!(err.contains("--data-root DIR or LSMC_DATA_ROOT"), "{err}");
    // Relative to a data root, named with where it came from.
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let r = root.to_str().unwrap();
    let err = run(lsmc(
        &dir,
        &["check", "--color", "never", spec, "--data-root", r],
    ));
    assert!(err.contains(&format!("looked for `{d}/data/sst`")), "{err}");
    assert!(
        err.contains("the data root given with --data-root"),
        "{err}"
    );
    assert!(err.contains(&format!("data root: `{r}`")), "{err}");
    let mut env = lsmc(&dir, &["check", "--color", "never", spec]);
    env.env("LSMC_DATA_ROOT", &root);
    let err = run(env);
    assert!(err.contains("the data root in LSMC_DATA_ROOT"), "{err}");
    assert!(err.contains(&format!("data root: `{r}`")), "{err}");
    // A `--set` path: relative to the working directory, absolute.
    let err = run(lsmc(
        &dir,
        &[
            "check",
            "--color",
            "never",
            spec,
            "--set",
            "data.path=\"x/../nope\"",
        ],
    ));
    assert!(err.contains(&format!("looked for `{d}/nope`")), "{err}");
    assert!(
        err.contains("resolves against the working directory"),
        "{err}"
    );
}

#[test]
fn a_data_file_the_loader_cannot_read_is_named_by_its_absolute_path() {
    let dir = scratch("loader");
    // The directory exists (the checker is satisfied); its files do not.
    std::fs::create_dir_all(dir.join("data/empty")).unwrap();
    std::fs::create_dir_all(dir.join("specs")).unwrap();
    let spec = copied_spec(&dir.join("specs"), "../data/empty");
    let o = train_into_run(&dir, &spec).output().unwrap();
    assert!(!o.status.success());
    let want = format!("{}/data/empty/train.txt: no such file", dir.display());
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
}

#[test]
fn training_reads_its_data_through_the_data_root() {
    let dir = scratch("train");
    let spec = copied_spec(&dir, "tiny_sst");
    let root = data();
    succeeds(
        train_into_run(&dir, &spec)
            .env("LSMC_DATA_ROOT", &root)
            .output()
            .unwrap(),
    );
    assert!(dir.join("run/best.bin").exists());
    // The run remembers its root: eval, predict and a resume from the run
    // alone find the data without the variable.
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/run.json")).unwrap()).unwrap();
    assert_eq!(info["data_root"], root.display().to_string());
    let o = succeeds(
        lsmc(&dir, &["eval", "run", "--split", "test"])
            .env_remove("LSMC_DATA_ROOT")
            .output()
            .unwrap(),
    );
    assert!(o.contains("accuracy"), "{o}");
    std::fs::remove_file(dir.join("run/summary.json")).unwrap();
    let o = lsmc(&dir, &["train", "--resume", "run", "--threads", "1"])
        .env_remove("LSMC_DATA_ROOT")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("run/summary.json").exists());
}

#[test]
fn an_unquoted_string_in_set_gets_a_hint_to_quote_it() {
    let dir = scratch("quote");
    let tiny = data().join("tiny_sst");
    let spec = copied_spec(&dir, tiny.to_str().unwrap());
    let spec = spec.to_str().unwrap();
    for value in [
        "/data/x",
        "./x",
        "~/x",
        "data/x",
        "x.txt",
        "sst",
        "sst-small",
    ] {
        let flag = format!("data.path={value}");
        let o = lsmc(&dir, &["check", "--color", "never", spec, "--set", &flag])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{value}");
        let err = stderr(&o).split_whitespace().collect::<Vec<_>>().join(" ");
        let hint = format!("write `--set 'data.path=\"{value}\"'`: strings are quoted");
        assert!(err.contains(&hint), "{value}: {err}");
    }
    // A misspelled number is not a string.
    let o = lsmc(&dir, &["check", spec, "--set", "train.batch=4x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("strings are quoted"), "{}", stderr(&o));
    // Quoted, the flag works.
    let flag = format!("data.path=\"{}\"", tiny.display());
    succeeds(
        lsmc(&dir, &["check", spec, "--set", &flag])
            .output()
            .unwrap(),
    );
}

#[test]
fn an_override_without_set_suggests_set_for_every_command_that_takes_a_spec() {
    let dir = scratch("hydra");
    let tiny = data().join("tiny_sst");
    let spec = copied_spec(&dir, tiny.to_str().unwrap());
    let spec = spec.to_str().unwrap();
    // `check` takes several specs: `K=3` is read as one.
    let o = lsmc(&dir, &["check", spec, "K=3"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read `K=3`") && stderr(&o).contains("write `--set K=3`"),
        "{}",
        stderr(&o)
    );
    // One spec: clap refuses the extra argument, with the tip.
    for command in ["train", "graph", "inspect", "bench"] {
        let o = lsmc(&dir, &[command, spec, "train.steps=10"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{command}");
        assert!(
            stderr(&o).contains("tip: to override a value, write `--set train.steps=10`"),
            "{command}: {}",
            stderr(&o)
        );
    }
    // `lsmc train K=3` alone: the spec cannot be read.
    let o = lsmc(&dir, &["train", "K=3"]).output().unwrap();
    assert!(stderr(&o).contains("write `--set K=3`"), "{}", stderr(&o));
    // A command without --set gets no such tip.
    let o = lsmc(&dir, &["predict", "run", "K=3"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("--set"), "{}", stderr(&o));
}

#[test]
fn predict_reads_sentences_piped_to_it_without_input() {
    let dir = scratch("predict");
    let tiny = data().join("tiny_sst");
    let spec = copied_spec(&dir, tiny.to_str().unwrap());
    succeeds(train_into_run(&dir, &spec).output().unwrap());
    let mut child = lsmc(&dir, &["predict", "run", "--format", "conllu"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a gem .\nso dull\n")
        .unwrap();
    let out = succeeds(child.wait_with_output().unwrap());
    assert!(out.contains("# text = a gem ."), "{out}");
    assert!(out.contains("# text = so dull"), "{out}");
    // Nothing piped: said plainly, a usage error.
    let o = lsmc(&dir, &["predict", "run"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("standard input is empty"),
        "{}",
        stderr(&o)
    );
}
