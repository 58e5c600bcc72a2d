using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;

namespace Sockeye.Hosting.Internal;

/// <summary>
/// Starts every listener with the host and drains them when it stops.
/// Start: check every listener's options (nothing binds if one is wrong), then bind them one by one;
/// if one cannot bind, the ones already started are stopped and the start fails naming the listener.
/// Stop: all listeners drain at once, each following <see cref="TcpServer.StopAsync(TimeSpan, CancellationToken)"/>'s
/// steps, until <see cref="SockeyeBuilder.DrainTimeout"/> passes or the host's shutdown token fires
/// (its shutdown timeout), whichever is first; then what is left is aborted.
/// </summary>
internal sealed class SockeyeHostedService(SockeyeBuilder builder, SockeyeListeners listeners, IServiceProvider services) : IHostedService
{
    private readonly ILogger _logger = services.GetService<ILoggerFactory>()?.CreateLogger("Sockeye.Hosting") ?? NullLogger.Instance;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var plans = ListenerPlan.MakeAll(builder, services.GetService<IConfiguration>(), services);
        if (plans.Count == 0)
        {
            SockeyeLog.NoListeners(_logger, $"{builder.ConfigurationSection}:Listeners");
        }

        var loggerFactory = services.GetService<ILoggerFactory>();
        var time = services.GetService<TimeProvider>();
        var started = new List<SockeyeListener>();
        try
        {
            foreach (var plan in plans)
            {
                cancellationToken.ThrowIfCancellationRequested();
                plan.Options.Server.LoggerFactory ??= loggerFactory;
                if (time is not null)
                {
                    plan.Options.Server.TimeProvider = time;
                }

                var server = new TcpServer(plan.Options.Server);
                try
                {
                    await server.StartAsync(plan.Handler, cancellationToken).ConfigureAwait(false);
                }
                catch (IOException ex)
                {
                    await server.DisposeAsync().ConfigureAwait(false);
                    throw new IOException($"Sockeye listener '{plan.Name}': {ex.Message}", ex);
                }

                started.Add(new SockeyeListener(plan.Name, plan.Protocol, plan.Options, server));
                SockeyeLog.ListenerStarted(_logger, plan.Name, plan.Protocol, server.LocalEndPoint);
            }
        }
        catch
        {
            await Task.WhenAll(started.Select(l => l.Server.StopAsync(TimeSpan.Zero))).ConfigureAwait(false);
            throw;
        }

        listeners.Set([.. started]);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (listeners.Count == 0)
        {
            return;
        }

        SockeyeLog.ListenersDraining(_logger, listeners.Count, builder.DrainTimeout);
        await Task.WhenAll(listeners.All.Select(l => StopOneAsync(l, cancellationToken))).ConfigureAwait(false);
    }

    private async Task StopOneAsync(SockeyeListener listener, CancellationToken hostShutdownTimeout)
    {
        var summary = await listener.Server.StopAsync(builder.DrainTimeout, hostShutdownTimeout).ConfigureAwait(false);
        listener.ShutdownSummary = summary;
        SockeyeLog.ListenerStopped(_logger, listener.Name, summary.Drained, summary.Aborted, summary.Elapsed);
    }
}
