//! The whole job: plan, build every platform, then assemble once and publish.

use crate::build::{self, Built, Running};
use crate::cli::Args;
use crate::elf;
use crate::error::Error;
use crate::plan::{self, Plan};
use crate::publish::{self, report, PushSettings};
use crate::registry;
use crate::sink;
use crate::speculate;
use crate::workspace::{LoadOptions, Workspace};

/// Runs the command; returns the process exit code. Results go to stdout, the rest to stderr.
pub fn run(args: &Args) -> i32 {
    match run_inner(args) {
        Ok(all_ok) => i32::from(!all_ok),
        Err(e) => {
            report(&e);
            1
        }
    }
}

fn run_inner(args: &Args) -> Result<bool, Error> {
    // Bad names fail before anything is built, and so does a missing engine.
    let (tags, pushes) = plan::references(args)?;
    for push in &pushes {
        if let plan::RefArg::Full(reference) = push {
            registry::Target::from_reference(reference, &args.insecure_registries)?;
        }
    }
    if !tags.is_empty() {
        sink::daemon::ping().map_err(sink::Error::from)?;
    }
    let credentials = publish::cli_credentials(args.username.as_deref())?;
    // Install a missing target now, so the head-start build can use it; only a Linux one,
    // which the plan would accept.
    if crate::image::platform::Platform::of_target(args.target()).is_some() {
        build::ensure_target(args.target(), args.quiet)?;
    }
    // Start last time's build for this command line while cargo metadata runs.
    let guess = speculate::recall(args).and_then(|spec| Running::spawn(&spec).ok());
    let ws = Workspace::load(&LoadOptions {
        manifest_path: args.manifest_path.clone(),
        locked: args.locked,
        frozen: args.frozen,
        offline: args.offline,
    })
    .map_err(plan::Error::from)?;
    let plan = plan::resolve(args, &ws)?;
    let built = build_all(&plan, guess, args)?;
    let push = PushSettings {
        insecure_registries: &args.insecure_registries,
        ca_certs: &args.ca_certs,
        credentials,
        quiet: args.quiet,
        verbose: args.verbose > 0,
    };
    publish::assemble_and_publish(&plan, &built, &push)
}

/// Builds each platform in turn (two cores gain nothing from building them at once),
/// checking each binary is static. The head-start build is used only if it is the one wanted.
fn build_all(plan: &Plan, mut guess: Option<Running>, args: &Args) -> Result<Vec<Built>, Error> {
    if let [single] = plan.builds.as_slice() {
        speculate::remember(args, &single.build);
    }
    let mut built = Vec::new();
    for pb in &plan.builds {
        build::ensure_target(&pb.build.target, args.quiet)?;
        let running = match guess.take() {
            Some(g) if g.spec() == &pb.build => g,
            other => {
                if let Some(wrong) = other {
                    wrong.discard();
                }
                Running::spawn(&pb.build)?
            }
        };
        if args.verbose > 0 {
            eprintln!("running {:?}", build::cargo_command(&pb.build));
        }
        running.show_output();
        let b = running.finish()?;
        elf::check_static(&b.executable)?;
        built.push(b);
    }
    Ok(built)
}
