using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye.Diagnostics;

/// <summary>
/// Log messages of the rest of the <c>net</c> vocabulary (7xx: UDP server, 8xx: Unix domain sockets, the
/// dialer and the epoll engine).
/// </summary>
internal static partial class SockeyeLog
{
    [LoggerMessage(700, LogLevel.Information, "UDP server listening on {EndPoint} with {Sockets} receive sockets")]
    public static partial void UdpListening(ILogger logger, EndPoint endPoint, int sockets);

    [LoggerMessage(701, LogLevel.Information, "UDP server stopping: no longer receiving; waiting up to {DrainTimeout} for {InFlight} handlers")]
    public static partial void UdpDraining(ILogger logger, int inFlight, TimeSpan drainTimeout);

    [LoggerMessage(702, LogLevel.Information, "UDP server stopped: {Drained} handlers finished, {Abandoned} abandoned, in {Elapsed}")]
    public static partial void UdpStopped(ILogger logger, int drained, int abandoned, TimeSpan elapsed);

    [LoggerMessage(703, LogLevel.Error, "UDP datagram handler threw (datagram from {RemoteEndPoint}; {Suppressed} similar errors not logged since the last message)")]
    public static partial void DatagramHandlerFailed(ILogger logger, EndPoint? remoteEndPoint, long suppressed, Exception exception);

    [LoggerMessage(704, LogLevel.Warning, "UDP receive on {EndPoint} failed ({Error}); receiving again")]
    public static partial void UdpReceiveFailed(ILogger logger, EndPoint? endPoint, string error);

    [LoggerMessage(705, LogLevel.Warning, "UDP server is shedding load: {Dropped} datagrams dropped in the last {Interval} because {Limit} handlers were busy")]
    public static partial void UdpShedding(ILogger logger, long dropped, TimeSpan interval, int limit);

    [LoggerMessage(800, LogLevel.Information, "Replacing stale Unix socket file {Path}: nothing is listening on it")]
    public static partial void UnixSocketStaleReplaced(ILogger logger, string path);

    [LoggerMessage(801, LogLevel.Warning, "Could not remove Unix socket file {Path} on stop")]
    public static partial void UnixSocketRemoveFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(860, LogLevel.Error, "Connection {ConnectionId}: an event dispatch on the epoll thread threw; the connection was aborted and the poll thread goes on ({Suppressed} similar errors not logged since the last message)")]
    public static partial void PollDispatchFailed(ILogger logger, long connectionId, long suppressed, Exception exception);

    [LoggerMessage(850, LogLevel.Debug, "Dial {Target} failed (attempt {Attempt} of {MaxAttempts}): {Error}; retrying in {Delay}")]
    public static partial void DialRetrying(ILogger logger, string target, int attempt, int maxAttempts, TimeSpan delay, string error);

    [LoggerMessage(861, LogLevel.Error, "Connection {ConnectionId}: a ConnectionClosed callback threw; the others ran and the server goes on ({Suppressed} similar errors not logged since the last message)")]
    public static partial void ConnectionClosedCallbackFailed(ILogger logger, long connectionId, long suppressed, Exception exception);

    [LoggerMessage(862, LogLevel.Warning, "Connection {ConnectionId} disconnected as a slow consumer: {Reason} ({Suppressed} similar disconnects not logged since the last message)")]
    public static partial void SlowConsumerDisconnected(ILogger logger, long connectionId, string reason, long suppressed);
}
