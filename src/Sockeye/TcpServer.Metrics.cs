using System.Diagnostics;
using Sockeye.Diagnostics;
using Sockeye.Transport;

namespace Sockeye;

public sealed partial class TcpServer
{
    // Connections that ended, by ConnectionCloseReason: one interlocked add per connection, at its end.
    private readonly long[] _closedByReason = new long[Enum.GetValues<ConnectionCloseReason>().Length];

    // Bytes in and out, added per receive and per flush on the running core's cell; null when metrics are off.
    private StripedCounter? _bytesReceived;
    private StripedCounter? _bytesSent;
    private StripedCounter? _framesDecoded;

    // Refusals because MaxConnections were open (the rest of _rejected were for descriptors).
    private long _rejectedForLimit;
    private long _acceptBackoffs;

    // One handler-error line per second at most: a handler bug hit by every connection must not flood the log.
    private LogRateLimiter _handlerErrorLog = null!;

    // The server's instruments, from listening until stopped; null when metrics are off.
    private TcpServerMetrics? _metrics;

    /// <summary>Bytes received from peers since the start, over every connection (0 when
    /// <see cref="TcpServerOptions.EnableMetrics"/> is off).</summary>
    public long BytesReceived => _bytesReceived?.Sum ?? 0;

    /// <summary>Bytes the kernel took to send to peers since the start, over every connection (0 when
    /// <see cref="TcpServerOptions.EnableMetrics"/> is off).</summary>
    public long BytesSent => _bytesSent?.Sum ?? 0;

    /// <summary>Frames decoded by the framing helpers (<see cref="Framing.ConnectionFramingExtensions"/>)
    /// since the start, over every connection (0 when <see cref="TcpServerOptions.EnableMetrics"/> is off).
    /// Frame errors are <see cref="ProtocolErrors"/>.</summary>
    public long FramesDecoded => _framesDecoded?.Sum ?? 0;

    /// <summary>Back-off waits of the accept loop since the start (each failed accept is followed by one).</summary>
    public long AcceptBackoffs => Interlocked.Read(ref _acceptBackoffs);

    /// <summary>How many connections ended the way <paramref name="reason"/> says, since the start.</summary>
    /// <param name="reason">How the connections ended.</param>
    /// <returns>The count; safe to read from any thread.</returns>
    public long GetClosedCount(ConnectionCloseReason reason) => Interlocked.Read(ref _closedByReason[(int)reason]);

    /// <summary>Refusals because <see cref="TcpServerOptions.MaxConnections"/> connections were open.</summary>
    internal long RejectedForLimit => Interlocked.Read(ref _rejectedForLimit);

    /// <summary>Creates the byte counters, which connections reach through the settings they share.</summary>
    private void InitializeMetrics(TcpServerOptions options)
    {
        _handlerErrorLog = new LogRateLimiter(options.TimeProvider, TimeSpan.FromSeconds(1));
        if (options.EnableMetrics)
        {
            _bytesReceived = new StripedCounter();
            _bytesSent = new StripedCounter();
            _framesDecoded = new StripedCounter();
            _deadlineSettings.Traffic = new TrafficCounters(_bytesReceived, _bytesSent, _framesDecoded);
        }
    }

    /// <summary>Publishes the instruments, now that the bound address is known.</summary>
    private void StartMetrics(System.Net.EndPoint endPoint)
    {
        if (_options.EnableMetrics)
        {
            _metrics = new TcpServerMetrics(this, endPoint);
        }
    }

    /// <summary>Withdraws the instruments once the server has stopped.</summary>
    private void StopMetrics()
    {
        _metrics?.Dispose();
        _metrics = null;
    }

    /// <summary>Counts one connection's end and records its duration. <paramref name="fault"/> is
    /// the handler's fault, if the handler ended with one; otherwise the connection's state decides.</summary>
    private ConnectionCloseReason RecordClosed(SocketConnection connection, ConnectionCloseReason? fault)
    {
        var reason = connection.TimedOutKind is not null ? ConnectionCloseReason.Timeout
            : fault is { } f ? f
            : connection.IsAborted ? (_state == ServerState.Listening ? ConnectionCloseReason.Aborted : ConnectionCloseReason.Shutdown)
            : connection.Reader.PeerReset ? ConnectionCloseReason.PeerReset
            : connection.Reader.PeerClosed ? ConnectionCloseReason.PeerClosed
            : _state != ServerState.Listening ? ConnectionCloseReason.Shutdown
            : ConnectionCloseReason.HandlerReturned;
        Interlocked.Increment(ref _closedByReason[(int)reason]);
        if (_metrics is { } metrics && connection.StartedAt != 0)
        {
            metrics.RecordClosed(reason, Stopwatch.GetElapsedTime(connection.StartedAt));
        }

        return reason;
    }

    /// <summary>Logs a handler's exception, at most once per second with the count of those held back.</summary>
    private void LogHandlerFailed(SocketConnection connection, Exception exception)
    {
        if (_handlerErrorLog.TryEnter(out var suppressed))
        {
            SockeyeLog.HandlerFailed(_logger, connection.Id, suppressed, exception);
        }
    }
}
