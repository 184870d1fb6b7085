use clap::Parser;
use shoal::cli::{self, Cli, Command};
use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: a message is allocated by the connection that read it
/// and freed by the one that wrote it, on another thread, and glibc's per-thread arenas spent
/// a fifth of the broker's time in `_int_malloc`/`unlink_chunk`/`malloc_consolidate` on a
/// 256-byte queue run, and kept freed argon2 blocks (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // The TUI owns the terminal: its logs go to a file instead of stderr.
    let tui = matches!(
        cli.command,
        None | Some(Command::Tui(_)) | Some(Command::Demo(_))
    );
    let json = cli.log_format == cli::LogFormat::Json;
    match tui.then(shoal::cli::tui::log_file).flatten() {
        Some(file) => {
            let logs = tracing_subscriber::fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_env_filter(filter());
            match json {
                true => logs.json().init(),
                false => logs.init(),
            }
        }
        None => {
            let logs = tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(!json && std::io::stderr().is_terminal())
                .with_env_filter(filter());
            match json {
                true => logs.json().init(),
                false => logs.init(),
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            None => cli::tui::run_tui(cli.tui).await,
            Some(Command::Tui(args)) => cli::tui::run_tui(args).await,
            Some(Command::Demo(args)) => cli::demo::run(args).await,
            Some(Command::Keymap(cli::KeymapCommand::Check(args))) => cli::tui::keymap_check(args),
            Some(Command::Broker(args)) => cli::run_broker(args).await,
            Some(Command::Node(args)) => cli::collective::run_node(args).await,
            Some(Command::Ping(args)) => cli::collective::run_ping(args).await,
            Some(Command::Bench(args)) => shoal::bench::run(args).await,
            Some(Command::Passwd(args)) => cli::passwd::run(args),
            Some(Command::ImportActivemq(args)) => cli::import_activemq(args),
            Some(Command::Pub(args)) => cli::pubsub::run_pub(args).await,
            Some(Command::Sub(args)) => cli::pubsub::run_sub(args).await,
            Some(Command::Status(args)) => cli::status::run(args).await,
            Some(Command::Connections(args)) => cli::connections::run(args).await,
            Some(Command::Check(args)) => cli::check::run(args).await,
            Some(Command::Reload(args)) => cli::reload::run(args).await,
            Some(Command::Completions(args)) => cli::shell::completions(args),
            Some(Command::Man(args)) => cli::shell::man(args),
            Some(Command::Doctor(args)) => match shoal::doctor::run(args) {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!("the doctor found errors")),
                Err(e) => Err(e),
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(cli::Exit(code)) = e.downcast_ref::<cli::Exit>() {
                return ExitCode::from(*code);
            }
            eprintln!("shoal: {e:#}");
            // 2: bad config or usage (nothing was started); 1: failure at run time.
            if e.downcast_ref::<shoal::config::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
