//! The GitHub Actions workflow of `docs/ci.md`, run here as a runner would run it: its shell
//! steps in order, with the variables a runner sets, a `$GITHUB_OUTPUT` file per step, and a
//! local Bearer-token registry standing in for GHCR. The workflow is read from the document
//! itself, so the two cannot drift apart.
//!
//! Not run: `uses:` steps (checkout: a copy of `fixtures/two-bins` stands in; cache: a first
//! run restores nothing; upload-artifact: the file it would upload is checked instead).
//! Stubbed: `cargo install`, which would download and compile the tool; a `cargo` first on
//! `PATH` records it and passes every other command to the real cargo. `rustup target add`
//! runs for real: the target is installed (`.ci/setup`), so it is an offline no-op.

mod common;

use common::registry::{skopeo_digest, Registry};
use common::{assert_no_canary, Project, CANARY_PASSWORD, CANARY_USER};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The marker in `docs/ci.md` before the workflow's yaml block.
const MARKER: &str = "<!-- tests/github_actions.rs runs the yaml block below";

/// What GitHub says of the repository and the run; the owner has capitals, as GitHub allows
/// and image names do not.
const OWNER: &str = "Acme-Corp";
const REPOSITORY: &str = "Acme-Corp/Services";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const RUN_ID: &str = "4242424242";

#[test]
fn the_documented_workflow_pushes_every_service_and_hands_each_digest_on() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md")).unwrap();
    let workflow = Yaml::parse(&workflow_block(&doc));
    let registry = Registry::token(CANARY_USER, CANARY_PASSWORD);
    let project = Project::copy("two-bins");
    let runner = Runner::new(&registry, project.path());

    let ran = runner.run(&workflow);

    // The images step's $GITHUB_OUTPUT: one line per binary, each the pushed reference with
    // the digest the registry serves.
    let images = ran.step("images", "images");
    eprintln!("$GITHUB_OUTPUT of the images step:\n{}", images.output_file);
    let prefix = format!("{}/acme-corp/services", registry.host());
    let login = format!("{CANARY_USER}:{CANARY_PASSWORD}");
    let mut expected = Vec::new();
    for bin in ["alpha", "beta"] {
        let name = format!("acme-corp/services/{bin}:{}", &SHA[..12]);
        let digest = skopeo_digest(&registry, &name, &["--tls-verify=false", "--creds", &login]);
        expected.push(format!("{bin}={prefix}/{bin}:{}@{digest}", &SHA[..12]));
    }
    let lines: Vec<&str> = images.output_file.lines().collect();
    assert_eq!(lines, expected, "the images step's $GITHUB_OUTPUT");
    // The push printed the same references, one line each.
    let push = ran.step("images", "Push every service of the workspace");
    for line in &expected {
        let reference = line.split_once('=').unwrap().1;
        assert!(push.stdout.lines().any(|l| l == reference), "{reference} in:\n{}", push.stdout);
    }
    // The later job got each reference through the job's outputs and `needs`.
    let deploy = ran.step("deploy", "Deploy each service by digest");
    for line in &expected {
        let (bin, reference) = line.split_once('=').unwrap();
        assert!(deploy.stdout.contains(&format!("deploying {bin}: {reference}")), "{}", deploy.stdout);
    }
    // The results file the upload step would keep is there.
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.path().join("images.json")).unwrap()).unwrap();
    assert_eq!(results["destinations"].as_array().unwrap().len(), 2, "{results}");

    // The runner's variables reached the tool: each image's source and revision labels.
    for bin in ["alpha", "beta"] {
        let image = format!("docker://{prefix}/{bin}:{}", &SHA[..12]);
        let config = common::tool("skopeo", &["inspect", "--config", "--tls-verify=false", "--creds", &login, &image]);
        let config: serde_json::Value = serde_json::from_str(&config.stdout).unwrap();
        let labels = &config["config"]["Labels"];
        assert_eq!(labels["org.opencontainers.image.source"], format!("https://github.com/{REPOSITORY}"), "{bin}");
        assert_eq!(labels["org.opencontainers.image.revision"], SHA, "{bin}");
    }
    // Logged in with the token: tokens were issued for the credentials, none refused.
    let server = registry.token_server.as_ref().unwrap();
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(server.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The install step asked for the tool, locked; the stand-in installed nothing.
    let installs = std::fs::read_to_string(runner.dir.path().join("cargo-install.log")).unwrap();
    // From the repository: the name on crates.io is a placeholder until the first release.
    let from_git =
        |l: &&str| l.contains("--locked") && l.contains("--git https://") && l.ends_with(" cargo-containerize");
    assert!(installs.lines().any(|l| from_git(&l)), "{installs}");

    // No form of the token anywhere: any step's output, the workspace, the runner's files.
    let texts: Vec<&str> = ran.steps.iter().flat_map(|s| [s.stdout.as_str(), s.stderr.as_str()]).collect();
    assert_no_canary(&texts, &[project.path(), runner.dir.path()]);
    // Every step is accounted for: run, or not run and why.
    let skipped: Vec<&str> = ran.skipped.iter().map(|s| s.as_str()).collect();
    assert_eq!(skipped, ["actions/checkout@v4", "actions/cache@v4", "actions/upload-artifact@v4"]);
}

/// The yaml block that follows [`MARKER`] in `doc`.
fn workflow_block(doc: &str) -> String {
    let after = &doc[doc.find(MARKER).expect("docs/ci.md marks its workflow")..];
    let start = after.find("```yaml\n").expect("a yaml block after the marker") + "```yaml\n".len();
    let end = after[start..].find("\n```").expect("the yaml block ends");
    after[start..start + end + 1].to_string()
}

/// A step that ran: its job, name (else id), `$GITHUB_OUTPUT` contents and output.
struct Ran {
    job: String,
    name: String,
    id: Option<String>,
    output_file: String,
    stdout: String,
    stderr: String,
}

struct Runs {
    steps: Vec<Ran>,
    /// The `uses:` of each step that was not run.
    skipped: Vec<String>,
}

impl Runs {
    /// The step of `job` with this id or name.
    fn step(&self, job: &str, which: &str) -> &Ran {
        self.steps
            .iter()
            .find(|s| s.job == job && (s.id.as_deref() == Some(which) || s.name == which))
            .unwrap_or_else(|| panic!("no step {which} ran in job {job}"))
    }
}

/// What a GitHub runner provides, here: the variables, the file commands, the contexts.
struct Runner {
    /// RUNNER_TEMP: the file commands, the stand-ins, the log of `cargo install`.
    dir: tempfile::TempDir,
    /// The workspace of the job that checks out the code.
    checkout: PathBuf,
    registry: String,
    /// `PATH` with the stand-ins first.
    path: String,
}

impl Runner {
    fn new(registry: &Registry, checkout: &Path) -> Runner {
        let dir = tempfile::Builder::new().prefix("cc-runner-").tempdir().unwrap();
        // This repository's build as `cargo-containerize`, which cargo runs for `cargo
        // containerize`, and a `cargo` that records `cargo install` and passes the rest on.
        let stubs = dir.path().join("bin");
        std::fs::create_dir(&stubs).unwrap();
        std::os::unix::fs::symlink(common::bin(), stubs.join("cargo-containerize")).unwrap();
        // The real cargo: `cargo test`'s own, else the first on PATH (never the stand-in).
        let cargo = std::env::var_os("CARGO").map(PathBuf::from).unwrap_or_else(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let found = std::env::split_paths(&path).map(|d| d.join("cargo")).find(|c| c.is_file());
            found.expect("cargo on PATH")
        });
        let log = dir.path().join("cargo-install.log");
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = install ]; then\n  printf '%s\\n' \"$*\" >> '{}'\n  echo 'cargo install: not run by tests/github_actions.rs (this build of the tool is on PATH)' >&2\n  exit 0\nfi\nexec '{}' \"$@\"\n",
            log.display(),
            cargo.display()
        );
        std::fs::write(stubs.join("cargo"), script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(stubs.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(
            std::iter::once(stubs).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        Runner {
            dir,
            checkout: checkout.to_path_buf(),
            registry: registry.host(),
            path: path.to_string_lossy().into_owned(),
        }
    }

    /// Runs every job in order, each `run:` step of each; `uses:` steps are listed, not run.
    fn run(&self, workflow: &Yaml) -> Runs {
        workflow.only_keys(&["name", "on", "permissions", "env", "defaults", "jobs"], "the workflow");
        let shell = workflow.get("defaults").and_then(|d| d.get("run")).and_then(|r| r.get("shell"));
        assert_eq!(shell.map(Yaml::str), Some("bash"), "defaults.run.shell: bash is what this test runs");
        let mut runs = Runs { steps: Vec::new(), skipped: Vec::new() };
        let mut needs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        // The workflow's env, with GHCR replaced by the local registry.
        let mut workflow_env = BTreeMap::new();
        for (k, v) in workflow.get("env").map(Yaml::map).unwrap_or_default() {
            let value = self.evaluate(v.str(), &Contexts::default());
            workflow_env.insert(k.clone(), value);
        }
        assert_eq!(workflow_env.get("REGISTRY").map(String::as_str), Some("ghcr.io"), "the workflow's REGISTRY");
        workflow_env.insert("REGISTRY".into(), self.registry.clone());

        for (job_id, job) in workflow.get("jobs").expect("jobs").map() {
            job.only_keys(&["name", "runs-on", "needs", "outputs", "steps", "env", "permissions"], job_id);
            if let Some(n) = job.get("needs") {
                assert!(needs.contains_key(n.str()), "job {job_id} needs {}, which has not run", n.str());
            }
            // A job that checks out runs in the checkout; any other in an empty workspace.
            let steps = job.get("steps").expect("steps").list();
            let checks_out =
                steps.iter().any(|s| s.get("uses").is_some_and(|u| u.str().starts_with("actions/checkout@")));
            let workspace = if checks_out {
                self.checkout.clone()
            } else {
                let w = self.dir.path().join(format!("workspace-{job_id}"));
                std::fs::create_dir(&w).unwrap();
                w
            };
            let mut env = workflow_env.clone();
            for (k, v) in job.get("env").map(Yaml::map).unwrap_or_default() {
                let value = self.evaluate(v.str(), &Contexts { env: &env, needs: &needs, ..Default::default() });
                env.insert(k.clone(), value);
            }
            let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for (n, step) in steps.iter().enumerate() {
                step.only_keys(&["name", "id", "uses", "with", "run", "env", "if"], "a step");
                if let Some(uses) = step.get("uses") {
                    if uses.str().starts_with("actions/upload-artifact@") {
                        let path = step.get("with").and_then(|w| w.get("path")).expect("with.path").str();
                        assert!(workspace.join(path).is_file(), "the artifact {path} to upload");
                    }
                    runs.skipped.push(uses.str().to_string());
                    continue;
                }
                assert!(step.get("if").is_none(), "a run step with `if:` is not emulated here");
                let script = step.get("run").expect("a step runs or uses").str();
                assert!(!script.contains("${{"), "expressions belong in env:, not in run:\n{script}");
                let contexts = Contexts { env: &env, steps: &outputs, needs: &needs };
                let mut step_env = env.clone();
                for (k, v) in step.get("env").map(Yaml::map).unwrap_or_default() {
                    step_env.insert(k.clone(), self.evaluate(v.str(), &contexts));
                }
                let name = step.get("name").or(step.get("id")).map(|s| s.str().to_string()).unwrap_or(n.to_string());
                let ran = self.run_step(
                    job_id,
                    &name,
                    step.get("id").map(|i| i.str().to_string()),
                    script,
                    &step_env,
                    &workspace,
                );
                if let Some(id) = &ran.id {
                    outputs.insert(id.clone(), parse_outputs(&ran.output_file));
                }
                runs.steps.push(ran);
            }
            let mut job_outputs = BTreeMap::new();
            for (k, v) in job.get("outputs").map(Yaml::map).unwrap_or_default() {
                let value = self.evaluate(v.str(), &Contexts { env: &env, steps: &outputs, needs: &needs });
                job_outputs.insert(k.clone(), value);
            }
            needs.insert(job_id.clone(), job_outputs);
        }
        runs
    }

    /// One `run:` step: `bash --noprofile --norc -eo pipefail SCRIPT` (GitHub's `shell:
    /// bash`) in `workspace`, with the runner's variables, `env`, and file commands of its own.
    fn run_step(
        &self,
        job: &str,
        name: &str,
        id: Option<String>,
        script: &str,
        env: &BTreeMap<String, String>,
        workspace: &Path,
    ) -> Ran {
        let files = self.dir.path().join(format!("step-{}", next_number()));
        std::fs::create_dir(&files).unwrap();
        let file = |n: &str| {
            let p = files.join(n);
            std::fs::write(&p, "").unwrap();
            p
        };
        let (output, github_env, github_path, summary) =
            (file("output"), file("env"), file("path"), file("step_summary"));
        std::fs::write(files.join("script.sh"), script).unwrap();
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(files.join("script.sh"));
        c.current_dir(workspace).stdin(Stdio::null());
        // The suite's isolation (caches and configs inside the project, no inherited
        // credentials, CI or GITHUB_* variables), less its canary variables: here the
        // workflow's own env gives the credentials, and the token is the canary.
        common::isolate(&mut c, &self.checkout);
        for k in ["CARGO_CONTAINERIZE_USERNAME", "CARGO_CONTAINERIZE_PASSWORD", "CARGO_CONTAINERIZE_REGISTRY", "CI"] {
            c.env_remove(k);
        }
        c.env("PATH", &self.path);
        // The toolchain stays where it is, though HOME moved (rustup's proxies set these
        // under `cargo test`; not when the test binary is run by hand).
        if let Some(home) = std::env::var_os("HOME") {
            for (var, dir) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
                if std::env::var_os(var).is_none() {
                    c.env(var, Path::new(&home).join(dir));
                }
            }
        }
        let runner = [
            ("CI", "true".to_string()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_ACTOR", CANARY_USER.into()),
            ("GITHUB_REPOSITORY", REPOSITORY.into()),
            ("GITHUB_REPOSITORY_OWNER", OWNER.into()),
            ("GITHUB_SHA", SHA.into()),
            ("GITHUB_REF", "refs/heads/main".into()),
            ("GITHUB_REF_NAME", "main".into()),
            ("GITHUB_EVENT_NAME", "push".into()),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_API_URL", "https://api.github.com".into()),
            ("GITHUB_RUN_ID", RUN_ID.into()),
            ("GITHUB_RUN_NUMBER", "7".into()),
            ("GITHUB_RUN_ATTEMPT", "1".into()),
            ("GITHUB_WORKFLOW", "images".into()),
            ("GITHUB_WORKFLOW_REF", format!("{REPOSITORY}/.github/workflows/images.yml@refs/heads/main")),
            ("GITHUB_JOB", job.into()),
            ("GITHUB_WORKSPACE", workspace.display().to_string()),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_ARCH", "X64".into()),
            ("RUNNER_TEMP", self.dir.path().display().to_string()),
            ("GITHUB_OUTPUT", output.display().to_string()),
            ("GITHUB_ENV", github_env.display().to_string()),
            ("GITHUB_PATH", github_path.display().to_string()),
            ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
        ];
        c.envs(runner).envs(env);
        let run = common::Run::of(&mut c);
        eprintln!("--- {job} / {name}: {}\nstdout:\n{}stderr:\n{}", run.status, run.stdout, run.stderr);
        assert_no_canary(&[&run.stdout, &run.stderr], &[]);
        assert!(run.status.success(), "step {name} of job {job} failed ({})", run.status);
        // File commands this test does not carry to later steps must not be used.
        for (what, path) in [("GITHUB_ENV", &github_env), ("GITHUB_PATH", &github_path)] {
            assert_eq!(std::fs::read_to_string(path).unwrap(), "", "{what} is not emulated here");
        }
        Ran {
            job: job.into(),
            name: name.into(),
            id,
            output_file: std::fs::read_to_string(&output).unwrap(),
            stdout: run.stdout,
            stderr: run.stderr,
        }
    }

    /// `value` with each `${{ EXPR }}` replaced; an expression this test does not know fails.
    fn evaluate(&self, value: &str, contexts: &Contexts) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("an expression ends with }}") + start;
            out.push_str(&self.lookup(rest[start + 3..end].trim(), contexts));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn lookup(&self, expr: &str, c: &Contexts) -> String {
        let parts: Vec<&str> = expr.split('.').collect();
        let found = match parts[..] {
            ["github", "actor"] => Some(CANARY_USER.to_string()),
            ["github", "repository"] => Some(REPOSITORY.to_string()),
            ["github", "repository_owner"] => Some(OWNER.to_string()),
            ["github", "sha"] => Some(SHA.to_string()),
            ["github", "run_id"] => Some(RUN_ID.to_string()),
            // The registry's password is GITHUB_TOKEN here.
            ["secrets", "GITHUB_TOKEN"] | ["github", "token"] => Some(CANARY_PASSWORD.to_string()),
            ["env", name] => c.env.get(name).cloned(),
            ["steps", id, "outputs", name] => c.steps.get(id).and_then(|o| o.get(name)).cloned(),
            ["needs", job, "outputs", name] => c.needs.get(job).and_then(|o| o.get(name)).cloned(),
            _ => panic!("the expression `{expr}` is not emulated by this test"),
        };
        // GitHub gives an empty string; here a name that is not there is a mistake.
        found.unwrap_or_else(|| panic!("`{expr}` has no value at this point of the workflow"))
    }
}

/// What an expression may name besides `github` and `secrets`.
struct Contexts<'a> {
    env: &'a BTreeMap<String, String>,
    steps: &'a BTreeMap<String, BTreeMap<String, String>>,
    needs: &'a BTreeMap<String, BTreeMap<String, String>>,
}

static NO_ENV: BTreeMap<String, String> = BTreeMap::new();
static NO_OUTPUTS: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();

impl Default for Contexts<'_> {
    fn default() -> Self {
        Contexts { env: &NO_ENV, steps: &NO_OUTPUTS, needs: &NO_OUTPUTS }
    }
}

/// A name unique within this process.
fn next_number() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// A `$GITHUB_OUTPUT` file as GitHub reads it: `name=value` lines, and `name<<DELIMITER`
/// heredocs; a later name replaces an earlier one.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        match (line.split_once("<<"), line.split_once('=')) {
            (Some((name, delimiter)), eq) if eq.is_none_or(|(n, _)| n.len() > name.len()) => {
                let mut value = Vec::new();
                loop {
                    let l = lines.next().unwrap_or_else(|| panic!("the heredoc {delimiter} never ends"));
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                outputs.insert(name.to_string(), value.join("\n"));
            }
            (_, Some((name, value))) => {
                outputs.insert(name.to_string(), value.to_string());
            }
            _ => panic!("not a $GITHUB_OUTPUT line: {line:?}"),
        }
    }
    outputs
}

/// The YAML a workflow needs: block mappings and sequences, plain and quoted scalars, `|`
/// blocks, comments. Anchors, flow mappings, folded blocks and tabs fail loudly. A flow
/// sequence (`[main]`) is kept as its text.
#[derive(Debug)]
enum Yaml {
    Str(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn parse(text: &str) -> Yaml {
        assert!(!text.contains('\t'), "a tab in the workflow");
        let mut p = Parser { lines: text.lines().map(str::to_string).collect(), i: 0 };
        p.skip();
        let node = p.node(0);
        p.skip();
        assert!(p.i == p.lines.len(), "line {} was not parsed: {}", p.i + 1, p.lines[p.i]);
        node
    }

    fn get(&self, key: &str) -> Option<&Yaml> {
        self.map().iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn str(&self) -> &str {
        match self {
            Yaml::Str(s) => s,
            other => panic!("a string expected, not {other:?}"),
        }
    }

    fn map(&self) -> &[(String, Yaml)] {
        match self {
            Yaml::Map(m) => m,
            other => panic!("a mapping expected, not {other:?}"),
        }
    }

    fn list(&self) -> &[Yaml] {
        match self {
            Yaml::List(l) => l,
            other => panic!("a sequence expected, not {other:?}"),
        }
    }

    /// Fails on a key this test does not emulate.
    fn only_keys(&self, keys: &[&str], what: &str) {
        for (k, _) in self.map() {
            assert!(keys.contains(&k.as_str()), "{what}: `{k}` is not emulated by this test");
        }
    }
}

struct Parser {
    lines: Vec<String>,
    i: usize,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `key: rest` or `key:`, for a plain key.
fn split_key(content: &str) -> Option<(&str, &str)> {
    let (key, rest) = content.split_once(':')?;
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    (plain && (rest.is_empty() || rest.starts_with(' '))).then_some((key, rest.trim()))
}

fn is_item(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// A one-line scalar: quoted, or plain up to a ` #` comment.
fn scalar(text: &str) -> String {
    let (value, rest) = if let Some(inner) = text.strip_prefix('\'') {
        let end = inner.find('\'').expect("a closing quote");
        (inner[..end].to_string(), &inner[end + 1..])
    } else if let Some(inner) = text.strip_prefix('"') {
        let end = inner.find('"').expect("a closing quote");
        assert!(!inner[..end].contains('\\'), "escapes in double quotes are not parsed here");
        (inner[..end].to_string(), &inner[end + 1..])
    } else {
        let value = text.split(" #").next().unwrap().trim();
        assert!(!value.starts_with(['&', '*', '{', '>', '!', '|']), "not parsed here: {value}");
        return value.to_string();
    };
    assert!(rest.trim().is_empty() || rest.trim().starts_with('#'), "after a quoted scalar: {rest}");
    value
}

impl Parser {
    fn skip(&mut self) {
        while self.i < self.lines.len() && {
            let t = self.lines[self.i].trim();
            t.is_empty() || t.starts_with('#')
        } {
            self.i += 1;
        }
    }

    /// The next significant line's indentation, if any.
    fn next_indent(&mut self) -> Option<usize> {
        self.skip();
        self.lines.get(self.i).map(|l| indent(l))
    }

    /// The node whose first line is the next significant line, indented by `ind`.
    fn node(&mut self, ind: usize) -> Yaml {
        let content = self.lines[self.i][ind..].to_string();
        if is_item(&content) {
            self.sequence(ind)
        } else if split_key(&content).is_some() {
            self.mapping(ind)
        } else {
            self.i += 1;
            Yaml::Str(scalar(&content))
        }
    }

    fn sequence(&mut self, ind: usize) -> Yaml {
        let mut items = Vec::new();
        while self.next_indent() == Some(ind) && is_item(&self.lines[self.i][ind..]) {
            assert!(self.lines[self.i][ind..] != *"-", "an empty item at line {}", self.i + 1);
            // `- x` is the node `x` indented by two more: the dash becomes a space.
            self.lines[self.i].replace_range(ind..ind + 1, " ");
            items.push(self.node(ind + 2));
        }
        self.end_of(ind);
        Yaml::List(items)
    }

    fn mapping(&mut self, ind: usize) -> Yaml {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        while self.next_indent() == Some(ind) && !is_item(&self.lines[self.i][ind..]) {
            let line = self.lines[self.i].clone();
            let (key, rest) = split_key(&line[ind..]).unwrap_or_else(|| panic!("not `key: value`: {line}"));
            assert!(entries.iter().all(|(k, _)| k != key), "`{key}` twice");
            self.i += 1;
            let value = match rest {
                "" => match self.next_indent() {
                    Some(child) if child > ind => self.node(child),
                    _ => Yaml::Str(String::new()),
                },
                "|" | "|-" => self.literal(ind, rest == "|"),
                _ => Yaml::Str(scalar(rest)),
            };
            entries.push((key.to_string(), value));
        }
        self.end_of(ind);
        Yaml::Map(entries)
    }

    /// A block ends where a line is less indented; one indented more is a mistake.
    fn end_of(&mut self, ind: usize) {
        if let Some(next) = self.next_indent() {
            assert!(next < ind, "line {} is indented oddly: {}", self.i + 1, self.lines[self.i]);
        }
    }

    /// A `|` block below a key indented by `ind`: its lines, less the block's indentation,
    /// with one final newline (`|`) or none (`|-`).
    fn literal(&mut self, ind: usize, keep_newline: bool) -> Yaml {
        let mut lines = Vec::new();
        let mut block = None;
        while let Some(line) = self.lines.get(self.i) {
            if line.trim().is_empty() {
                lines.push(String::new());
            } else if indent(line) > ind {
                let b = *block.get_or_insert(indent(line));
                assert!(indent(line) >= b, "a literal block's line is less indented than its first");
                lines.push(line[b..].to_string());
            } else {
                break;
            }
            self.i += 1;
        }
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        let mut text = lines.join("\n");
        if keep_newline {
            text.push('\n');
        }
        Yaml::Str(text)
    }
}

#[test]
fn the_workflow_parser_reads_what_a_workflow_holds() {
    let y = Yaml::parse(
        "name: x # a comment\non:\n  push:\n    branches: [main]\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n\n      - name: 'two'\n        env:\n          K: ${{ env.R }}\n        run: |\n          echo \"a # b\"\n\n          echo c\n      - run: |-\n          last\n",
    );
    assert_eq!(y.get("name").unwrap().str(), "x");
    assert_eq!(y.get("on").unwrap().get("push").unwrap().get("branches").unwrap().str(), "[main]");
    let steps = y.get("jobs").unwrap().get("a").unwrap().get("steps").unwrap().list();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0].get("uses").unwrap().str(), "actions/checkout@v4");
    assert_eq!(steps[1].get("name").unwrap().str(), "two");
    assert_eq!(steps[1].get("env").unwrap().get("K").unwrap().str(), "${{ env.R }}");
    assert_eq!(steps[1].get("run").unwrap().str(), "echo \"a # b\"\n\necho c\n");
    assert_eq!(steps[2].get("run").unwrap().str(), "last");
    assert_eq!(
        parse_outputs("a=1\nb<<EOF\nx\ny\nEOF\na=2=3\n"),
        BTreeMap::from([("a".into(), "2=3".into()), ("b".into(), "x\ny".into())])
    );
}
