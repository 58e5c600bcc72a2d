namespace Sockeye.Transport;

/// <summary>The connection's side of the metrics: when it started, and its sends counted into the
/// server's byte counter (receives are counted in <see cref="OnReceived(int)"/>).</summary>
internal sealed partial class SocketConnection
{
    /// <summary>The <see cref="System.Diagnostics.Stopwatch"/> timestamp at which the handler started;
    /// 0 when the server publishes no metrics (then nothing needs the duration).</summary>
    internal long StartedAt { get; set; }

    /// <summary>Which timeout ended this connection, if one did.</summary>
    internal ConnectionTimeoutKind? TimedOutKind => Volatile.Read(ref _deadlines)?.TimedOutKind;

    /// <summary>A send handed <paramref name="bytes"/> to the kernel.</summary>
    internal void OnSent(long bytes) => _context.Deadlines?.Traffic?.Sent.Add(bytes);

    internal override void OnFrameDecoded() => _context.Deadlines?.Traffic?.Frames.Add(1);
}
