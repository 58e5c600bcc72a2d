using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sockeye.Server;
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
            HostingLog.NoListeners(_logger, $"{builder.ConfigurationSection}:Listeners");
        }

        var loggerFactory = services.GetService<ILoggerFactory>();
        var time = services.GetService<TimeProvider>();
        var started = new List<SockeyeListener>();
        try
        {
            foreach (var plan in plans)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var listener = await StartOneAsync(plan, loggerFactory, time, cancellationToken).ConfigureAwait(false);
                started.Add(listener);
                HostingLog.ListenerStarted(_logger, plan.Name, plan.Protocol, listener.LocalEndPoint);
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

        HostingLog.ListenersDraining(_logger, listeners.Count, _drainTimeout);
        await Task.WhenAll(listeners.All.Select(l => StopOneAsync(l, cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>Creates the listener's server (TCP or UDP, with the host's logger factory and clock)
    /// and starts it; if the start fails, the server is stopped and the error names the listener.</summary>
    private async Task<SockeyeListener> StartOneAsync(ListenerPlan plan, ILoggerFactory? loggerFactory, TimeProvider? time,
        CancellationToken cancellationToken)
    {
        IRunningServer server;
        Func<CancellationToken, Task> start;
        object? owned = null;
        if (plan.DatagramHandler is { } datagramHandler)
        {
            var udpOptions = plan.Options.Udp;
            udpOptions.LoggerFactory ??= loggerFactory;
            udpOptions.TimeProvider = time ?? udpOptions.TimeProvider;
            (var handle, owned) = datagramHandler(services);
            var udp = new UdpServer(udpOptions);
            (server, start) = (udp, token => udp.StartAsync(handle, token));
        }
        else
        {
            var tcpOptions = plan.Options.Server;
            tcpOptions.LoggerFactory ??= loggerFactory;
            tcpOptions.TimeProvider = time ?? tcpOptions.TimeProvider;
            var tcp = new TcpServer(tcpOptions);
            (server, start) = (tcp, token => tcp.StartAsync(plan.Handler!, token));
        }

        var listener = new SockeyeListener(plan.Name, plan.Protocol, plan.Options, server, owned);
        try
        {
            await start(cancellationToken).ConfigureAwait(false);
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
            HostingLog.UdpListenerStopped(_logger, listener.Name, summary.Drained, summary.Aborted, summary.Elapsed);
        }
        else
        {
            HostingLog.ListenerStopped(_logger, listener.Name, summary.Drained, summary.Aborted, summary.Elapsed);
        }
    }
}
