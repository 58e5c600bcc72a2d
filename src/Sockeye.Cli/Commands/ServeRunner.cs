using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Sockeye.Server;

namespace Sockeye.Cli.Commands;

/// <summary>What every <c>sockeye serve ...</c> command shares: the run (start, the listening line, the
/// admin port, wait, drain, exit code) and its signals. SIGTERM and SIGINT stop (drain, then exit);
/// SIGHUP reloads what the server can reload and never stops it (logging is in
/// <see cref="ObservabilityOptions"/>).</summary>
internal static class ServeRunner
{
    /// <summary>
    /// Runs one server in this process: builds it with the run's logger factory, starts it, prints
    /// <c>sockeye: listening on ...</c>, starts the admin port if asked, waits for SIGTERM or SIGINT
    /// (SIGHUP reloads meanwhile), answers <c>/readyz</c> with 503 for <c>--shutdown-delay</c> while it
    /// still serves, drains for up to <paramref name="drainTimeout"/>, prints what the
    /// drain did, and returns 0 after a clean drain, 1 when work had to be abandoned or a port could
    /// not be bound (one line on stderr).
    /// </summary>
    /// <param name="parse">The command line (logging and admin-port options).</param>
    /// <param name="watch">The logging and admin-port options.</param>
    /// <param name="drainTimeout">How long the drain may take.</param>
    /// <param name="describe">Describes the server, given the run's logger factory.</param>
    public static async Task<int> RunAsync<TServer>(ParseResult parse, ObservabilityOptions watch, TimeSpan drainTimeout, Func<ILoggerFactory, ServeRun<TServer>> describe)
        where TServer : class, IRunningServer
    {
        using var loggerFactory = watch.CreateLoggerFactory(parse);
        var run = describe(loggerFactory);

        // Declared before the server, so disposed after its drain: handlers may broadcast until the end.
        await using var owned = run.Owned;

        // Registered before the server exists, so that no moment of the start leaves SIGHUP's default
        // action (exit) in place.
        TServer? built = null;
        var (stop, registration) = WaitForSignals(ServeRun<TServer>.Logger(loggerFactory), () => run.Reload(Volatile.Read(ref built)));
        using var signals = registration;

        await using var server = run.Create();
        Volatile.Write(ref built, server);
        Observability.AdminEndpoint? admin;
        try
        {
            await run.Start(server).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"sockeye: listening on {run.Listening(server)}").ConfigureAwait(false);
            admin = await watch.StartAdminAsync(parse, () => server.State == ServerState.Listening, loggerFactory, run.DescriptorReserve, run.Readiness).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"sockeye: error: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        using var adminScope = admin;
        await Console.Out.FlushAsync().ConfigureAwait(false);

        var stats = run.StatsLine is { } line ? StatsReporter.Start(() => line(server), run.StatsInterval) : null;
        var signal = await stop.ConfigureAwait(false);
        if (stats is not null)
        {
            await stats.DisposeAsync().ConfigureAwait(false);
        }

        await watch.WaitShutdownDelayAsync(parse, signal).ConfigureAwait(false);
        await Console.Out.WriteLineAsync($"sockeye: {signal} received; draining for up to {Sockeye.Timing.DurationText.Format(drainTimeout)}").ConfigureAwait(false);
        var summary = await server.StopAsync(drainTimeout).ConfigureAwait(false);
        await Console.Out.WriteLineAsync($"sockeye: stopped: {run.Stopped(server, summary)}").ConfigureAwait(false);
        if (run.StatsLine is { } final && run.StatsInterval > TimeSpan.Zero)
        {
            await Console.Out.WriteLineAsync(final(server)).ConfigureAwait(false);
        }

        return summary.IsClean ? 0 : 1;
    }

    /// <summary>Registers for SIGTERM and SIGINT, and for SIGHUP as <see cref="ReloadOnSighup"/> does.
    /// The returned task completes with the first stop signal received, which is cancelled so the
    /// process stays up to drain; a SIGHUP during the drain still reloads and does not disturb it.
    /// Dispose the registration when done (after a stop signal it stays registered to the process's end).</summary>
    /// <param name="logger">Where each SIGHUP is logged.</param>
    /// <param name="reload">Reloads what can be reloaded and says what it did, in a few words.</param>
    public static (Task<PosixSignal> Signal, IDisposable Registration) WaitForSignals(ILogger logger, Func<string> reload)
    {
        var stop = new TaskCompletionSource<PosixSignal>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true; // We exit ourselves, after the drain.
            stop.TrySetResult(context.Signal);
        }

        var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        var sighup = ReloadOnSighup(logger, () => reload() + (stop.Task.IsCompleted ? " (while draining)" : ""));
        return (stop.Task, new Registrations(stop.Task, sigterm, sigint, sighup));
    }

    /// <summary>
    /// Registers for SIGHUP, whose default action would end the process without a drain: each one
    /// runs <paramref name="reload"/> and logs one line with what it did (event 1400). A reload that
    /// throws is logged (event 1401) and the server goes on. Dispose the registration when done.
    /// </summary>
    /// <param name="logger">Where each SIGHUP is logged.</param>
    /// <param name="reload">Reloads what can be reloaded and says what it did, in a few words.</param>
    public static IDisposable ReloadOnSighup(ILogger logger, Func<string> reload) =>
        PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true; // SIGHUP means "reload", as in nginx and HAProxy: never the default (exit).
            try
            {
                ServeLog.SighupHandled(logger, Environment.ProcessId, reload());
            }
#pragma warning disable CA1031 // An exception out of a signal handler would end the process: the one thing SIGHUP must not do.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                ServeLog.SighupFailed(logger, Environment.ProcessId, ex.Message);
            }
        });

    /// <summary>What reloading a TCP server's certificates did, for the SIGHUP log line.</summary>
    /// <param name="server">The server, or <see langword="null"/> while it is not yet built.</param>
    /// <param name="options">The options it was built from (whether it serves TLS).</param>
    public static string ReloadCertificates(TcpServer? server, TcpServerOptions options) => (server, options.Tls) switch
    {
        (_, null) => "nothing to reload (no TLS)",
        (null, _) => "nothing to reload yet (the server reads its certificates as it starts)",
        _ when server.ReloadTlsCertificates() => "TLS certificates reloaded",
        _ => "TLS certificate reload failed; the previous certificates stay in use",
    };

    /// <summary>The signal registrations. After a stop signal they are kept to the process's end: the
    /// process exits once its drain ends, and a repeated signal that arrived between a disposal here and
    /// that exit would meet the default action and end it with 130 or 143 instead of the drain's status
    /// (an operator's second Ctrl-C, an orchestrator repeating its SIGTERM).</summary>
    private sealed class Registrations(Task stopped, params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            if (stopped.IsCompleted)
            {
                return;
            }

            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }
}
