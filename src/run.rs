//! The whole job: plan, build every platform, then assemble once and publish.

use crate::base;
use crate::build::{self, BuildSpec, Built, Running};
use crate::cli::Args;
use crate::error::Error;
use crate::image::parent::Parent;
use crate::image::Artifact;
use crate::login;
use crate::plan;
use crate::publish::{self, report};
use crate::registry::PushOptions;
use crate::resolved::Graph;
use crate::sink;
use crate::speculate;
use crate::tuning::Tuning;
use crate::workspace::{LoadOptions, Workspace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What the command line asks for: an image (flags only, the default), or the documents
/// attached to one (`cargo containerize documents IMAGE`).
pub enum Command {
    Build(Box<Args>),
    Documents(crate::documents::DocumentsArgs),
}

impl Command {
    pub fn from_env() -> Command {
        use clap::Parser;
        let mut argv = crate::cli::argv();
        if argv.get(1).is_some_and(|a| a == "documents") {
            argv.remove(1);
            return Command::Documents(crate::documents::DocumentsArgs::parse_from(argv));
        }
        Command::Build(Box::new(Args::parse_args(argv)))
    }

    /// Runs it; the process exit code.
    pub fn run(&self) -> i32 {
        match self {
            Command::Build(args) => run(args),
            Command::Documents(args) => crate::documents::run(args),
        }
    }
}

/// Runs the command; returns the process exit code. Results go to stdout, the rest to stderr.
pub fn run(args: &Args) -> i32 {
    crate::shell::set(args.quiet, args.verbose);
    crate::shell::set_colour(args.color.as_deref());
    let results = std::sync::Arc::new(crate::results::Results::default());
    // Its waits (a FIFO's reader) are the run's; a bad variable is reported by the run.
    let tuning = Tuning::from_env(&crate::registry::credentials::process_env).unwrap_or_default();
    // A run stopped by a signal writes what it knows, with the interruption as its error,
    // so that no earlier run's success is left in the file; once the outputs are known not
    // to collide, and waiting a moment at most for a FIFO's reader.
    let checked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(path) = args.metadata_file.clone() {
        let (results, checked) = (results.clone(), checked.clone());
        let brief = std::time::Duration::from_secs(2);
        let tuning = Tuning { timeout: tuning.timeout.min(brief), stall: tuning.stall.min(brief), ..tuning.clone() };
        crate::interrupt::on_signal(Box::new(move |signal| {
            if !checked.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let error = format!("interrupted by {signal}; the destinations listed were written before it");
            if let Err(e) = results.write(&path, Some(&error), &tuning) {
                crate::shell::error(format_args!("cannot write the results file {}: {e}", path.display()), None);
            }
        }));
    }
    let result = run_inner(args, &results, &checked);
    // On a terminal, what went where, once everything is done.
    if result.is_ok() && !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        for (verb, line) in results.summary() {
            crate::shell::status(verb, line);
        }
    }
    if let Some(made) = crate::registry::client::made() {
        crate::shell::detail(format_args!("registry clients this run: {made}"));
    }
    // A build stopped by Ctrl-C fails: that is the signal's doing, not an error to report;
    // the signal's handler writes the results file and ends the process.
    if let Some(code) = crate::interrupt::exit_code_if_interrupted() {
        return code;
    }
    // The results file, whatever happened: a pipeline reads why a run failed there too;
    // unless it is the file that would overwrite another output.
    let collides = matches!(&result, Err(Error::Sink(sink::Error::Collision { metadata_file: true, .. })));
    if let Some(path) = args.metadata_file.as_ref().filter(|_| !collides) {
        let error = result.as_ref().err().map(|e| e.to_string());
        if let Err(e) = results.write(path, error.as_deref(), &tuning) {
            // The run's own error first: the file's must not hide it.
            if let Err(run_error) = &result {
                report(run_error);
            }
            crate::shell::error(format_args!("cannot write the results file {}: {e}", path.display()), None);
            return 1;
        }
    }
    match result {
        Ok(all_ok) => i32::from(!all_ok),
        Err(e) => {
            report(&e);
            1
        }
    }
}

fn run_inner(
    args: &Args,
    results: &crate::results::Results,
    outputs_checked: &std::sync::atomic::AtomicBool,
) -> Result<bool, Error> {
    let env = crate::registry::credentials::process_env;
    crate::tuning::check_unicode()?;
    let tuning = Tuning::from_env(&env)?;
    let explicit = login::explicit(args.username.as_deref(), &env, tuning.timeout, args.quiet)?;
    // Read once: no child (cargo, build scripts, git, credential helpers) inherits it or
    // finds it in /proc.
    login::forget_password_variable();
    crate::interrupt::install();
    // Bad names fail before anything is built, and so do a selection of several packages and
    // a missing engine.
    let refs = plan::references(args)?;
    let (tags, pushes) = (&refs.tags, &refs.pushes);
    // With several images `--output` is the directory of their layouts, each checked with
    // the plan.
    let several = matches!(plan::selection(args), plan::Selection::Many);
    let layout = args.output.as_deref().filter(|_| !several);
    sink::check_paths(layout, args.tarball.as_deref())?;
    if let Some(dir) = args.output.as_deref().filter(|_| several) {
        sink::check_layouts_dir(dir)?;
    }
    // The outputs the command line names must not collide, before anything (the results
    // file of an interrupted run included) is written; the plan's own are checked again.
    let named: Vec<sink::SinkSpec> = layout
        .iter()
        .map(|dir| sink::SinkSpec::Layout { dir: dir.to_path_buf(), ref_names: Vec::new(), default: false })
        .chain(args.tarball.iter().map(|path| sink::SinkSpec::Archive {
            path: path.clone(),
            tags: Vec::new(),
            ref_names: Vec::new(),
        }))
        .collect();
    sink::check_collisions(&named, args.metadata_file.as_deref())?;
    outputs_checked.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(path) = &args.metadata_file {
        crate::fsutil::check_output(path).map_err(|source| Error::MetadataFile { path: path.clone(), source })?;
    }
    if let Some(dir) = &args.sbom_output {
        crate::sbom::check_output_dir(dir).map_err(|source| Error::SbomOutput { path: dir.clone(), source })?;
    }
    if !pushes.is_empty() {
        crate::registry::transport::ca_certificates(&args.ca_certs).map_err(Box::new)?;
    }
    if !tags.is_empty() && !args.dry_run {
        crate::engine::ping(&tuning, args.quiet).map_err(sink::Error::from)?;
    }
    // The repositories this command line pushed to last time are checked while cargo
    // metadata runs.
    let early = login::EarlyCheck::start(args, &refs, explicit.as_ref(), &env, &tuning);
    // Start last time's build for this command line meanwhile too, if its target is there:
    // a guess never installs anything. Not for a push: nothing compiles before its
    // destinations are checked.
    let guess = speculate::recall(args)
        .filter(|_| !args.dry_run && pushes.is_empty())
        .filter(|spec| build::target_installed(&spec.target))
        .and_then(|spec| Running::spawn(&spec).ok());
    let ws = Workspace::load(&LoadOptions {
        manifest_path: args.manifest.manifest_path.clone(),
        locked: args.locked,
        frozen: args.frozen,
        offline: args.offline,
        config: plan::cargo_config(&args.config)?,
        target_dir: plan::target_dir(args),
    })
    .map_err(plan::Error::from)?;
    let plan = plan::resolve(args, refs, &ws, &tuning)?;
    let sinks: Vec<sink::SinkSpec> = plan.sinks().cloned().collect();
    sink::check(&sinks)?;
    // The bundle of several images (`--tarball`) must not land in one of their layouts.
    let bundle = plan.bundle.iter().map(|path| sink::SinkSpec::Archive {
        path: path.clone(),
        tags: Vec::new(),
        ref_names: Vec::new(),
    });
    let every: Vec<sink::SinkSpec> = sinks.iter().cloned().chain(bundle).collect();
    sink::check_collisions(&every, args.metadata_file.as_deref())?;
    if args.dry_run {
        let mut json = serde_json::to_string_pretty(&plan.to_json()).expect("a plan serialises");
        json.push('\n');
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        return out
            .write_all(json.as_bytes())
            .and_then(|()| out.flush())
            .map(|()| true)
            .map_err(|source| Error::Stdout { source });
    }
    let credentials = login::scope_for(explicit.as_ref(), &plan, &env)?;
    // The explicit credentials are for one host (see `login::scope_for`).
    let given = explicit.as_ref().zip(credentials.first()).map(|(e, (host, _))| e.described(host));
    let (shared, early) = early.map_or_else(Default::default, |e| e.finish(&credentials));
    let push = PushOptions {
        insecure_registries: args.insecure_registries.clone(),
        ca_certs: args.ca_certs.clone(),
        credentials,
        given,
        verbose: args.verbose > 0,
        quiet: args.quiet,
        tuning,
        shared,
    };
    // Every push destination answers, takes its credentials and a push, before any build.
    login::check_pushes(args, &plan, &push, early)?;
    // Every image's base is resolved to a digest before any build, so a bad name fails first.
    let mut plan = plan;
    let mut parents_of = Vec::new();
    for target in &mut plan.images {
        let platforms: Vec<_> = target.builds.iter().map(|b| b.platform.clone()).collect();
        let parents = base::resolve(&target.image.parent.clone(), &platforms, &push, args.offline)?;
        crate::spec::on_base(&mut target.image, parents.as_deref(), &push)?;
        sink::check_base(&target.sinks, parents.as_deref(), push.verbose)?;
        if let Some(path) = &plan.bundle {
            // The bundle is a docker-archive too.
            let bundle = sink::SinkSpec::Archive { path: path.clone(), tags: Vec::new(), ref_names: Vec::new() };
            sink::check_base(&[bundle], parents.as_deref(), push.verbose)?;
        }
        parents_of.push(parents);
    }
    let remember = plan.images.len() == 1;
    let built_of = build_every(&plan, guess, args, &parents_of, &push, remember)?;
    let progress = crate::progress::Progress::new(push.quiet);
    let n = plan.images.len();
    // One image publishes as it goes; several at once (their uploads share the run's
    // client, its connections to each registry), their result lines held and printed in
    // the plan's order, each image's as soon as those before it are done.
    let held: Vec<Mutex<Vec<String>>> = (0..n).map(|_| Mutex::default()).collect();
    let in_order = InOrder::new(n, plan.stdout_taken);
    let one = |i: usize| -> Result<(bool, Artifact), Error> {
        let (target, parents, built) = (&plan.images[i], parents_of[i].as_deref(), &built_of[i]);
        let documents = crate::sbom::Documents::gather(&plan, target, built, push.tuning.timeout)?;
        let hold = (n > 1).then_some(&held[i]);
        let out = publish::Output { results, image: i, hold, progress: &progress };
        publish::assemble_and_publish(&plan, target, built, &push, parents, &documents, &out)
    };
    let mut each: Vec<Option<Result<(bool, Artifact), Error>>> = (0..n).map(|_| None).collect();
    if n == 1 {
        each[0] = Some(one(0));
    } else {
        let next = AtomicUsize::new(0);
        let done = Mutex::new(&mut each);
        std::thread::scope(|scope| {
            for _ in 0..n.min(PUBLISHERS) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let result = one(i);
                    done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                    in_order.done(i, &held);
                });
            }
        });
    }
    let mut all_ok = in_order.printed();
    let mut made = Vec::new();
    let mut first_error = None;
    for (target, result) in plan.images.iter().zip(each) {
        match result.expect("every image was published") {
            Ok((ok, artifact)) => {
                all_ok &= ok;
                made.push((target, artifact));
            }
            // The first stops the run; the others are reported here.
            Err(e) if first_error.is_none() => first_error = Some(e),
            Err(e) => report(&e),
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    // The tarball of several images, once they are all made.
    all_ok &= publish::publish_bundle(&plan, &made, &push, results, &progress);
    Ok(all_ok)
}

/// How many images are published at once: enough to overlap one's compression with
/// another's uploads, few enough not to crowd two cores and a registry.
const PUBLISHERS: usize = 4;

/// Prints the images' held result lines in the plan's order: each image's once it and
/// every image before it are done.
struct InOrder {
    state: Mutex<(usize, Vec<bool>, bool)>,
    to_stderr: bool,
}

impl InOrder {
    fn new(n: usize, to_stderr: bool) -> InOrder {
        InOrder { state: Mutex::new((0, vec![false; n], true)), to_stderr }
    }

    /// Image `i` is done: prints what is now in order.
    fn done(&self, i: usize, held: &[Mutex<Vec<String>>]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (next, finished, ok) = &mut *state;
        finished[i] = true;
        while *next < finished.len() && finished[*next] {
            let lines = std::mem::take(&mut *held[*next].lock().unwrap_or_else(|e| e.into_inner()));
            *ok &= publish::print_results(&lines, self.to_stderr);
            *next += 1;
        }
    }

    /// Whether every line printed was written.
    fn printed(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).2
    }
}

/// Builds every image's binary for each of its platforms, with one `cargo build` for all
/// the binaries whose builds differ in nothing else (so their shared dependencies compile
/// once), one after the other (two cores gain nothing from building at once); and checks
/// each binary fits its base (static on scratch). The head-start build is used only if it
/// is one wanted. Returns each image's binaries, in the plan's order of platforms.
fn build_every(
    plan: &plan::Plan,
    mut guess: Option<Running>,
    args: &Args,
    parents_of: &[Option<Vec<Parent>>],
    push: &PushOptions,
    remember: bool,
) -> Result<Vec<Vec<Built>>, Error> {
    let images = plan.images.as_slice();
    if let ([target], true) = (images, remember) {
        if let [single] = target.builds.as_slice() {
            speculate::remember(args, &single.build);
        }
    }
    // The builds that differ only in their binary go together, each under the first's spec.
    let alike =
        |spec: &BuildSpec| BuildSpec { package: String::new(), bin: String::new(), batch: Vec::new(), ..spec.clone() };
    let mut batches: Vec<(BuildSpec, Vec<(usize, usize)>)> = Vec::new();
    for (i, target) in images.iter().enumerate() {
        for (j, pb) in target.builds.iter().enumerate() {
            match batches.iter_mut().find(|(spec, _)| alike(spec) == alike(&pb.build)) {
                Some((spec, members)) => {
                    spec.batch.push((pb.build.package.clone(), pb.build.bin.clone()));
                    members.push((i, j));
                }
                None => batches.push((pb.build.clone(), vec![(i, j)])),
            }
        }
    }
    let mut built: Vec<Vec<Option<Built>>> = images.iter().map(|t| vec![None; t.builds.len()]).collect();
    for (spec, members) in batches {
        build::ensure_target(&spec.target)?;
        let running = match guess.take() {
            Some(g) if g.spec() == &spec => {
                crate::shell::detail("using the build started from the last run's choice of binary");
                g
            }
            other => {
                // A wrong guess is stopped (its drop kills its process group) before the
                // build that is wanted starts.
                drop(other);
                Running::spawn(&spec)?
            }
        };
        crate::shell::detail(format_args!("running {:?}", build::cargo_command(&spec)));
        running.show_output();
        let mut each = running.finish_all()?;
        if each.len() > 1 {
            // Each binary's packages are those it reaches in what the build resolved.
            let (cargo, packages, env) = (build::cargo_exe(), spec.packages(), build::cargo_env(&spec));
            let inputs = crate::resolved::inputs(&each[0].packages, &plan.workspace_root);
            let cache = plan.target_dir.join("containerize").join("resolved");
            let query = spec.resolution(cargo.as_os_str(), &packages, &env, push.tuning.timeout);
            match Graph::of_cached(&query, &inputs, &cache) {
                Ok(graph) => each.iter_mut().for_each(|b| b.narrow(&graph)),
                Err(e) => crate::shell::warn(format_args!(
                    "each image's SBOM lists every package the build of its {} binaries compiled: {e}",
                    each.len()
                )),
            }
        }
        // One init per target for the images that run one.
        let init = match members.iter().any(|(i, _)| images[*i].image.init) {
            true => Some(build::build_init(&spec, &plan.target_dir)?),
            false => None,
        };
        for ((i, j), mut b) in members.into_iter().zip(each) {
            base::fit::check_binary(&b.executable, parents_of[i].as_deref().map(|p| &p[j]), push)?;
            b.init = init.clone().filter(|_| images[i].image.init);
            built[i][j] = Some(b);
        }
    }
    Ok(built.into_iter().map(|bs| bs.into_iter().map(|b| b.expect("every build is in a batch")).collect()).collect())
}
