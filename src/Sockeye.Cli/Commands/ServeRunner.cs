using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Sockeye.Cli.Commands;

/// <summary>What every <c>sockeye serve ...</c> command shares: its signals. SIGTERM and SIGINT stop
/// (drain, then exit); SIGHUP reloads what the server can reload and never stops it (logging is in
/// <see cref="ObservabilityOptions"/>).</summary>
internal static class ServeRunner
{
    /// <summary>Registers for SIGTERM and SIGINT, and for SIGHUP as <see cref="ReloadOnSighup"/> does.
    /// The returned task completes with the first stop signal received, which is cancelled so the
    /// process stays up to drain; a SIGHUP during the drain still reloads and does not disturb it.
    /// Dispose the registration when done.</summary>
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
        return (stop.Task, new Registrations(sigterm, sigint, sighup));
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

    private sealed class Registrations(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }
}
