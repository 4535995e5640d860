use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tidings_local::runtime::DEFAULT_DATA_PATH;
use tidings_local::{bench, bench_mixed, cold_start, demo, server, LocalOptions, LocalRuntime};

/// Tidings on your machine: embedded DynamoDB, local channel sinks, the
/// schedules and event routes of template.yaml.
#[derive(Parser)]
#[command(name = "tidings-local", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClockKind {
    /// Wall-clock time; the sweep runs at its scheduled rate.
    System,
    /// Time moves only by POST /local/clock.
    Manual,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the embedded store and the schedules.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// SQLite file of the embedded DynamoDB.
        #[arg(long, default_value = DEFAULT_DATA_PATH)]
        data: PathBuf,
        #[arg(long, value_enum, default_value = "system")]
        clock: ClockKind,
    },
    /// Print a bearer token the local API accepts for ACCOUNT.
    Token {
        account: String,
        /// The operator's token for ACCOUNT instead (it may buy credit).
        #[arg(long)]
        operator: bool,
        #[arg(long, default_value = DEFAULT_DATA_PATH)]
        data: PathBuf,
    },
    /// Assign a sender (email identity, number, SMS sender id) to ACCOUNT,
    /// as the operator does once the identity is verified or the number
    /// bought; or, as `bridge`, the practice line a call's "0" connects to.
    RegisterSender {
        account: String,
        /// email, sms, voice, fax or bridge.
        channel: String,
        sender: String,
        #[arg(long, default_value = DEFAULT_DATA_PATH)]
        data: PathBuf,
    },
    /// Seed two practices and print a simulated day's timeline.
    Demo,
    /// Measure sweep-and-deliver throughput on a fresh embedded store.
    Bench {
        /// Reminders of 200 practices due in the same minute.
        #[arg(long, default_value_t = 20_000)]
        burst: usize,
        /// Instead: a multi-account load of all four kinds at the sweep's
        /// real interval, with per-kind lateness.
        #[arg(long)]
        mixed: bool,
        /// With --mixed: messages planned in all.
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
        /// With --mixed: practice accounts.
        #[arg(long, default_value_t = 200)]
        accounts: usize,
    },
    /// Start each function binary as Lambda does, against a fake of the
    /// runtime API, and print its size, zipped size and init time
    /// (infra/cold-start.sh builds them as the deployment does).
    ColdStart {
        /// The functions' bootstrap binaries.
        #[arg(required = true)]
        binaries: Vec<PathBuf>,
        /// Starts of each binary.
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,dynoxide=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { addr, data, clock } => {
            let manual_clock = matches!(clock, ClockKind::Manual).then(chrono::Utc::now);
            let runtime =
                LocalRuntime::start(LocalOptions { data: Some(data), manual_clock, ..Default::default() }).await?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!("tidings-local serving on http://{}", listener.local_addr()?);
            server::serve(Arc::new(runtime), listener).await?;
        }
        Command::Token { account, operator, data } => {
            let account = account.parse().map_err(|_| "ACCOUNT: 1 to 128 characters of A-Z a-z 0-9 . _ : -")?;
            let key = tidings_local::auth::TokenKey::load_or_create(&data.with_extension("key"))?;
            println!("{}", key.issue(&account, operator)?);
        }
        Command::RegisterSender { account, channel, sender, data } => {
            let account = account.parse().map_err(|_| "ACCOUNT: 1 to 128 characters of A-Z a-z 0-9 . _ : -")?;
            if channel == "bridge" {
                let number = sender.parse().map_err(|_| "SENDER: a bridge number is E.164 (+12025550143)")?;
                let runtime = LocalRuntime::start(LocalOptions { data: Some(data), ..Default::default() }).await?;
                runtime.store.register_bridge_number(&number, &account).await?;
                println!("{sender} now takes {account}'s connected calls");
                return Ok(());
            }
            let channel = channel.parse().map_err(|_| "CHANNEL: email, sms, voice, fax or bridge")?;
            let runtime = LocalRuntime::start(LocalOptions { data: Some(data), ..Default::default() }).await?;
            runtime.store.register_sender(channel, &sender, &account).await?;
            println!("{sender} now sends for {account} on {}", channel.as_str());
        }
        Command::Demo => demo::run().await?,
        Command::Bench { mixed: true, messages, accounts, .. } => {
            let figures = bench_mixed::run(messages, accounts).await?;
            println!("messages planned                {}", figures.planned);
            println!("messages sent                   {}", figures.sent);
            println!("not sent (too late, quiet hours) {}", figures.planned - figures.sent);
            println!("sweep ticks run                 {}", figures.ticks);
            println!("sweep and delivery wall time    {:.1} s", figures.sweep_seconds);
            println!("messages per second             {:.0}", figures.messages_per_second);
            println!("lateness, due to hand-off       sent      p50 s     p99 s");
            for kind in &figures.per_kind {
                println!("  {:<29} {:>6} {:>9} {:>9}", kind.kind, kind.sent, kind.p50_seconds, kind.p99_seconds);
            }
        }
        Command::ColdStart { binaries, runs } => {
            let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
            let ms = |duration: std::time::Duration| duration.as_secs_f64() * 1000.0;
            println!("function                  size MB  zipped MB  init ms (median, slowest of {runs})  peak RSS MB");
            for figures in cold_start::measure_all(&binaries, runs).await? {
                println!(
                    "{:<24} {:>8.1} {:>10.1} {:>14.1} {:>8.1} {:>22}",
                    figures.name,
                    mib(figures.bytes),
                    mib(figures.zipped_bytes),
                    ms(figures.median_init()),
                    ms(figures.slowest_init()),
                    figures.peak_rss_bytes().map_or_else(|| "-".into(), |bytes| format!("{:.1}", mib(bytes))),
                );
            }
        }
        Command::Bench { burst, .. } => {
            let f = bench::run(burst).await?;
            println!("reminders due in one minute     {} of 200 practices", f.reminders);
            println!("delivered                       {} ({} emails, {} texts)", f.delivered, f.emails, f.texts);
            println!("due to last hand-off            {:.1} s", f.handed_off_seconds);
            println!("due to last delivery            {:.1} s", f.drained_seconds);
            println!("messages per second             {:.0}", f.messages_per_second());
            println!("sweep runs, rounds, errors      {}, {}, {}", f.sweep_runs, f.sweep_rounds, f.sweep_errors);
            println!("busiest account in a round      {:.1} %", f.busiest_account_permille as f64 / 10.0);
            println!("DynamoDB requests per message   sweep {:.2}", f.sweep_requests_per_message);
            println!(
                "                                email {:.2} (delivery {:.2})",
                f.requests_per_email(),
                f.email_delivery_requests
            );
            println!(
                "                                SMS   {:.2} (delivery {:.2})",
                f.requests_per_text(),
                f.sms_delivery_requests
            );
            println!("embedded single-item writes/s   {:.0}", f.raw_writes_per_second);
            println!("item writes per message         {:.2}", f.item_writes_per_message);
            println!(
                "write-bound rate                {:.0} messages/s at {:.2} writes each; reached {:.0} %",
                f.write_bound_messages_per_second(),
                f.item_writes_per_message,
                100.0 * f.messages_per_second() / f.write_bound_messages_per_second()
            );
        }
    }
    Ok(())
}
