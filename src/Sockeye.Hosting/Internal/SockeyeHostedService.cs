using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Diagnostics;
using Sockeye.Udp;

namespace Sockeye.Hosting.Internal;

/// <summary>
/// Starts every listener, TCP and UDP, with the host and drains them when it stops.
/// Start: read <c>Sockeye:DrainTimeout</c> and check every listener's options (nothing binds if one is
/// wrong), then bind them one by one; if one cannot bind, the ones already started are stopped and the
/// start fails naming the listener.
/// Stop: all listeners drain at once, each following its server's <c>StopAsync</c> steps
/// (<see cref="TcpServer.StopAsync(TimeSpan, CancellationToken)"/>, <see cref="UdpServer.StopAsync(TimeSpan, CancellationToken)"/>),
/// until the drain timeout passes or the host's shutdown token fires (its shutdown timeout), whichever
/// is first; then what is left is aborted.
/// </summary>
internal sealed class SockeyeHostedService(SockeyeBuilder builder, SockeyeListeners listeners, IServiceProvider services) : IHostedService
{
    private readonly ILogger _logger = services.GetService<ILoggerFactory>()?.CreateLogger("Sockeye.Hosting") ?? NullLogger.Instance;

    // The builder's DrainTimeout, or Sockeye:DrainTimeout when the configuration sets it; read at start.
    private TimeSpan _drainTimeout = builder.DrainTimeout;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var configuration = services.GetService<IConfiguration>();
        if (builder.ConfigurationSection is { } root && configuration is not null)
        {
            _drainTimeout = OptionsBinder.Duration(configuration.GetSection($"{root}:{nameof(SockeyeBuilder.DrainTimeout)}")) ?? builder.DrainTimeout;
        }

        var plans = ListenerPlan.MakeAll(builder, configuration, services);
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
                var listener = plan.DatagramHandler is { } datagramHandler
                    ? await StartUdpAsync(plan, datagramHandler(services), loggerFactory, time, cancellationToken).ConfigureAwait(false)
                    : await StartTcpAsync(plan, plan.Handler!, loggerFactory, time, cancellationToken).ConfigureAwait(false);
                started.Add(listener);
                SockeyeLog.ListenerStarted(_logger, plan.Name, plan.Protocol, listener.LocalEndPoint);
            }
        }
        catch
        {
            await Task.WhenAll(started.Select(l => l.StopAsync(TimeSpan.Zero, CancellationToken.None))).ConfigureAwait(false);
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

        SockeyeLog.ListenersDraining(_logger, listeners.Count, _drainTimeout);
        await Task.WhenAll(listeners.All.Select(l => StopOneAsync(l, cancellationToken))).ConfigureAwait(false);
    }

    private static async Task<SockeyeListener> StartTcpAsync(ListenerPlan plan, Func<Connection, Task> handler,
        ILoggerFactory? loggerFactory, TimeProvider? time, CancellationToken cancellationToken)
    {
        plan.Options.Server.LoggerFactory ??= loggerFactory;
        if (time is not null)
        {
            plan.Options.Server.TimeProvider = time;
        }

        var server = new TcpServer(plan.Options.Server);
        try
        {
            await server.StartAsync(handler, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"Sockeye listener '{plan.Name}': {ex.Message}", ex);
        }

        return new SockeyeListener(plan.Name, plan.Protocol, plan.Options, server);
    }

    private static async Task<SockeyeListener> StartUdpAsync(ListenerPlan plan, (Func<Datagram, ValueTask> Handle, object? Owned) handler,
        ILoggerFactory? loggerFactory, TimeProvider? time, CancellationToken cancellationToken)
    {
        plan.Options.Udp.LoggerFactory ??= loggerFactory;
        if (time is not null)
        {
            plan.Options.Udp.TimeProvider = time;
        }

        var listener = new SockeyeListener(plan.Name, plan.Protocol, plan.Options, new UdpServer(plan.Options.Udp), handler.Owned);
        try
        {
            await listener.UdpServer!.StartAsync(handler.Handle, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Closes the sockets and disposes a handler the listener created.
            await listener.StopAsync(TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
            if (ex is IOException)
            {
                throw new IOException($"Sockeye listener '{plan.Name}': {ex.Message}", ex);
            }

            throw;
        }

        return listener;
    }

    private async Task StopOneAsync(SockeyeListener listener, CancellationToken hostShutdownTimeout)
    {
        var summary = await listener.StopAsync(_drainTimeout, hostShutdownTimeout).ConfigureAwait(false);
        listener.ShutdownSummary = summary;
        if (listener.IsUdp)
        {
            SockeyeLog.UdpListenerStopped(_logger, listener.Name, summary.Drained, summary.Aborted, summary.Elapsed);
        }
        else
        {
            SockeyeLog.ListenerStopped(_logger, listener.Name, summary.Drained, summary.Aborted, summary.Elapsed);
        }
    }
}
