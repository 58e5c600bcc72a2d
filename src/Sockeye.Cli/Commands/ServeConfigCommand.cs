using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sockeye.Cli.Observability;
using Sockeye.Hosting;

namespace Sockeye.Cli.Commands;

/// <summary>
/// <c>sockeye serve --config FILE</c>: runs the listeners a configuration file describes, in a Generic
/// Host, with the usual .NET precedence: the file, then environment variables
/// (<c>Sockeye__Listeners__echo__Port=7001</c>), then <c>--Sockeye:Listeners:echo:Port=7001</c> arguments.
/// With <c>--metrics-port</c>, one admin port exports every listener, TCP and UDP, told apart by their
/// <c>server_port</c> and <c>network_transport</c> labels.
/// </summary>
internal static class ServeConfigCommand
{
    /// <summary>The built-in servers a listener's <c>Protocol</c> may name, beside the library's
    /// <c>echo</c> and <c>udp-echo</c>.</summary>
    private static readonly (string Name, Func<IConnectionHandler> Handler)[] Protocols =
    [
        ("line-echo", () => EchoFraming.Handler("line", 64 * 1024)),
        ("length32-echo", () => EchoFraming.Handler("length32", 64 * 1024)),
    ];

    /// <summary>Adds <c>--config</c>, its <c>--drain-timeout</c> and the admin-port and logging options
    /// of <see cref="ObservabilityOptions"/> to <paramref name="serve"/>.</summary>
    public static void AddTo(Command serve)
    {
        var config = new Option<string>("--config")
        {
            Description = "Run the listeners a JSON file describes under Sockeye:Listeners:NAME (Protocol: echo, line-echo, length32-echo or udp-echo; Host; Port; any server option). "
                + "Environment variables (Sockeye__Listeners__NAME__KEY) and --Sockeye:Listeners:NAME:KEY=VALUE arguments override it",
        };
        var drainTimeout = CliOptions.Duration("--drain-timeout", DefaultDrainTimeout, "With --config: on SIGTERM, how long handlers get to finish before their connections are aborted; overrides Sockeye:DrainTimeout");
        serve.Options.Add(config);
        serve.Options.Add(drainTimeout);

        // Not --no-metrics: metrics are a listener option here (Sockeye:Listeners:NAME:EnableMetrics).
        var watch = new ObservabilityOptions();
        watch.AddTo(serve, withNoMetrics: false);

        // Configuration overrides (--Sockeye:...=...) are not options of ours: they reach the action unmatched.
        serve.TreatUnmatchedTokensAsErrors = false;
        serve.SetAction((parse, _) => RunAsync(
            parse.GetValue(config),
            parse.GetResult(drainTimeout) is { Implicit: false } ? parse.GetValue(drainTimeout) : null,
            parse.UnmatchedTokens,
            parse,
            watch));
    }

    private static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(10);

    private static async Task<int> RunAsync(string? configPath, TimeSpan? drainTimeoutOption, IReadOnlyList<string> overrides, ParseResult parse, ObservabilityOptions watch)
    {
        if (configPath is null)
        {
            // `serve chat` when chat did not exist, a typo: name the word, not a missing command.
            if (overrides.FirstOrDefault(t => !t.StartsWith('-')) is { } unknown)
            {
                var verbs = string.Join(", ", parse.CommandResult.Command.Subcommands.Select(c => c.Name));
                return await FailAsync($"Unrecognized command '{unknown}' for 'sockeye serve' (commands: {verbs}; or --config FILE)", Program.UsageError);
            }

            return await FailAsync("Required command was not provided: use 'serve echo ...' or 'serve --config FILE' (see 'sockeye serve --help')", Program.UsageError);
        }

        if (FirstStray(overrides) is { } stray)
        {
            return await FailAsync($"Unrecognized argument '{stray}' (configuration overrides look like --Sockeye:Listeners:NAME:KEY=VALUE)", Program.UsageError);
        }

        // The built-in protocols never block a thread, as with serve echo (an explicit setting in the environment wins).
        SocketEngine.UseInlineCompletions();
        var path = Path.GetFullPath(configPath);
        if (!File.Exists(path))
        {
            return await FailAsync($"--config: '{configPath}' does not exist", Program.UsageError);
        }

        IHost host;
        TimeSpan drainTimeout;
        try
        {
            (host, drainTimeout) = Build(path, drainTimeoutOption, overrides, parse.GetValue(watch.LogLevel), parse.GetValue(watch.LogFormat) ?? "text");
        }
        catch (InvalidDataException ex)
        {
            // The innermost error is the JSON reader's, with the line and position.
            var cause = ex.GetBaseException();
            return await FailAsync($"--config: cannot read '{configPath}': {cause.Message}", Program.UsageError);
        }

        using (host)
        {
            // The host handles SIGTERM and Ctrl-C; SIGHUP reloads the TLS listeners' certificates.
            // Registered before the start, so that no moment of it leaves SIGHUP's default action (exit).
            var listeners = host.Services.GetRequiredService<SockeyeListeners>();
            var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
            using var sighup = ServeRunner.ReloadOnSighup(host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sockeye.Serve"),
                () => ReloadCertificates(listeners, lifetime.ApplicationStopping.IsCancellationRequested));
            try
            {
                await host.StartAsync();
            }
            catch (SockeyeConfigurationException ex)
            {
                return await FailAsync(ex.Message, Program.UsageError);
            }
            catch (IOException ex)
            {
                return await FailAsync(ex.Message, 1);
            }

            foreach (var listener in listeners.All)
            {
                await Console.Out.WriteLineAsync($"sockeye: listener {listener.Name} ({listener.Protocol}) listening on {listener.ListenAddress}");
            }

            // Ready while every listener accepts: once the host stops, the first to drain makes /readyz 503.
            AdminEndpoint? admin;
            try
            {
                admin = await watch.StartAdminAsync(
                    parse,
                    () => listeners.All.Count > 0 && listeners.All.All(l => l.State == ServerState.Listening),
                    host.Services.GetRequiredService<ILoggerFactory>(),
                    listeners.All.Where(l => !l.IsUdp).Select(l => l.Options.Server.DescriptorReserve).DefaultIfEmpty(new TcpServerOptions().DescriptorReserve).Max());
            }
            catch (IOException ex)
            {
                await host.StopAsync();
                return await FailAsync(ex.Message, 1);
            }

            using var adminScope = admin;
            await Console.Out.FlushAsync();
            lifetime.ApplicationStopping.Register(() =>
                Console.Out.WriteLine($"sockeye: stopping; draining for up to {Sockeye.Timing.DurationText.Format(drainTimeout)}"));

            // The host handles SIGTERM and Ctrl-C: it stops every listener, draining within its shutdown timeout.
            await host.WaitForShutdownAsync();
            var drained = listeners.All.Sum(l => l.ShutdownSummary?.Drained ?? 0);
            var aborted = listeners.All.Sum(l => l.ShutdownSummary?.Aborted ?? 0);
            var elapsed = listeners.All.Select(l => l.ShutdownSummary?.Elapsed ?? TimeSpan.Zero).DefaultIfEmpty().Max();
            await Console.Out.WriteLineAsync($"sockeye: stopped: {drained} drained, {aborted} aborted in {elapsed.TotalMilliseconds:F0} ms");
            return aborted == 0 ? 0 : 1;
        }
    }

    /// <summary>Reloads the certificates of every TLS listener; says what it did, for the SIGHUP log line.</summary>
    private static string ReloadCertificates(SockeyeListeners listeners, bool stopping)
    {
        var tls = listeners.All.Count(l => !l.IsUdp && l.Options.Server.Tls is not null);
        var outcome = tls == 0
            ? $"nothing to reload (none of the {listeners.Count} listeners serves TLS)"
            : $"TLS certificates reloaded on {listeners.ReloadTlsCertificates()} of {tls} TLS listeners";
        return stopping ? outcome + " (while draining)" : outcome;
    }

    /// <summary>Builds the host, and returns the drain timeout it will use: <c>--drain-timeout</c> if given,
    /// otherwise <c>Sockeye:DrainTimeout</c> from the configuration, otherwise 10 s.</summary>
    private static (IHost Host, TimeSpan DrainTimeout) Build(string configPath, TimeSpan? drainTimeoutOption, IReadOnlyList<string> overrides, LogLevel logLevel, string logFormat)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration
            .AddJsonFile(configPath, optional: false, reloadOnChange: false)
            .AddEnvironmentVariables()
            .AddCommandLine([.. overrides]);
        if (drainTimeoutOption is { } option)
        {
            // The option is the last word: it goes in as the configuration's last source.
            builder.Configuration.AddInMemoryCollection([new("Sockeye:DrainTimeout", Sockeye.Timing.DurationText.Format(option))]);
        }

        // A bad value here is reported by the host's start, naming the key; until then, use the default.
        var drainTimeout = builder.Configuration["Sockeye:DrainTimeout"] is { } configured
            && Sockeye.Timing.DurationText.TryParse(configured, out var parsed, out _) ? parsed : DefaultDrainTimeout;
        ObservabilityOptions.ConfigureLogging(builder.Logging, logLevel, logFormat); // to stderr: stdout is for the listening lines
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical); // a failed start is reported in one line below
        // The host's timeout is a little longer than the drain, so the abort after it has time to run.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = drainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.AddSockeye(sockeye =>
        {
            sockeye.DrainTimeout = DefaultDrainTimeout; // Sockeye:DrainTimeout overrides it
            foreach (var (name, handler) in Protocols)
            {
                sockeye.AddProtocol(name, _ => handler());
            }
        });
        return (builder.Build(), drainTimeout);
    }

    /// <summary>The first token that is not a configuration override: overrides are
    /// <c>--KEY=VALUE</c>, or <c>--KEY</c> followed by its value.</summary>
    private static string? FirstStray(IReadOnlyList<string> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            if (!tokens[i].StartsWith("--", StringComparison.Ordinal))
            {
                return tokens[i];
            }

            if (!tokens[i].Contains('=', StringComparison.Ordinal))
            {
                i++; // its value
            }
        }

        return null;
    }

    private static async Task<int> FailAsync(string message, int exitCode)
    {
        await Console.Error.WriteLineAsync($"sockeye: error: {message}");
        return exitCode;
    }
}
