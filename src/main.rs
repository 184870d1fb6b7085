use clap::Parser;
use shoal::cli::{self, Cli, Command};
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
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
            // Until the TUI lands, `shoal` alone runs a broker with the defaults.
            None => cli::run_broker(Default::default()).await,
            Some(Command::Broker(args)) => cli::run_broker(args).await,
            Some(Command::Node(args)) => cli::collective::run_node(args).await,
            Some(Command::Ping(args)) => cli::collective::run_ping(args).await,
            Some(Command::Bench(args)) => shoal::bench::run(args).await,
            Some(Command::Passwd(args)) => cli::passwd::run(args),
            Some(Command::ImportActivemq(args)) => cli::import_activemq(args),
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
