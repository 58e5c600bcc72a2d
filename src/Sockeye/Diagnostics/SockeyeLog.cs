using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye.Diagnostics;

/// <summary>
/// Every log message the library writes, with stable event ids (1xx: server life, 2xx: accept loop,
/// 3xx: connections, 7xx: UDP, 8xx: Unix sockets and dialing, 10xx: acceptors, 12xx-13xx: TLS and edge
/// checks; 9xx, the Generic Host's listeners, are Sockeye.Hosting's own). Per-connection events are Debug so that a busy
/// server stays quiet by default.
/// </summary>
internal static partial class SockeyeLog
{
    [LoggerMessage(100, LogLevel.Information, "Listening on {EndPoint} ({IoEngine} engine)")]
    public static partial void Listening(ILogger logger, EndPoint endPoint, IoEngine ioEngine);

    [LoggerMessage(105, LogLevel.Warning, "MaxConnections is {Requested}, but only about {Fit} connections fit: the process may open {FileLimit} descriptors (ulimit -n) and keeps {Reserve} in reserve; connections past that are refused")]
    public static partial void DescriptorsLimitConnections(ILogger logger, int requested, int fit, long fileLimit, int reserve);

    [LoggerMessage(107, LogLevel.Warning, "MaxConnections is {Requested}, but the whole system has only {Free} descriptors left (fs.file-max {FileMax}, {Allocated} open): connections past that fail to accept (docs/TUNING.md)")]
    public static partial void SystemFilesLimitConnections(ILogger logger, int requested, long free, long fileMax, long allocated);

    [LoggerMessage(108, LogLevel.Warning, "ListenBacklog is {Backlog}, but net.core.somaxconn is {SoMaxConn}: the kernel caps the accept queue at {SoMaxConn}, so a burst of connects beyond it is dropped or retried (docs/TUNING.md)")]
    public static partial void BacklogAboveSoMaxConn(ILogger logger, int backlog, int soMaxConn);

    [LoggerMessage(106, LogLevel.Information, "Stop requested by {Source}; draining (a second SIGINT or SIGTERM aborts what is still open)")]
    public static partial void StopRequested(ILogger logger, string source);

    [LoggerMessage(101, LogLevel.Information, "Stopping: no longer accepting; asking {Open} connections to finish within {DrainTimeout}")]
    public static partial void Draining(ILogger logger, int open, TimeSpan drainTimeout);

    [LoggerMessage(102, LogLevel.Warning, "Drain timeout of {DrainTimeout} reached; aborting {Count} connections")]
    public static partial void DrainTimedOut(ILogger logger, TimeSpan drainTimeout, int count);

    [LoggerMessage(103, LogLevel.Information, "Stopped: {Drained} connections drained, {Aborted} aborted, in {Elapsed}")]
    public static partial void Stopped(ILogger logger, int drained, int aborted, TimeSpan elapsed);

    [LoggerMessage(104, LogLevel.Warning, "{Count} aborted connections had not ended {Wait} after the abort; their handlers ignore cancellation")]
    public static partial void HandlersIgnoredAbort(ILogger logger, int count, TimeSpan wait);

    [LoggerMessage(200, LogLevel.Warning, "Accept failed ({Error}); retrying in {Delay} ({Suppressed} similar errors since the last message)")]
    public static partial void AcceptFailed(ILogger logger, string error, TimeSpan delay, long suppressed);

    [LoggerMessage(201, LogLevel.Error, "Accept failed with an unexpected error; retrying in {Delay}")]
    public static partial void AcceptFailedUnexpectedly(ILogger logger, Exception exception, TimeSpan delay);

    [LoggerMessage(202, LogLevel.Information, "Accepting again after {Errors} accept errors")]
    public static partial void AcceptResumed(ILogger logger, long errors);

    [LoggerMessage(300, LogLevel.Debug, "Connection {ConnectionId} accepted from {RemoteEndPoint}")]
    public static partial void ConnectionAccepted(ILogger logger, long connectionId, EndPoint? remoteEndPoint);

    [LoggerMessage(301, LogLevel.Debug, "Connection from {RemoteEndPoint} refused: {Active} connections open, the limit is {Limit}")]
    public static partial void ConnectionRejected(ILogger logger, EndPoint? remoteEndPoint, int active, int limit);

    [LoggerMessage(302, LogLevel.Error, "Connection {ConnectionId}: the handler threw; aborting this connection only ({Suppressed} similar errors not logged since the last message)")]
    public static partial void HandlerFailed(ILogger logger, long connectionId, long suppressed, Exception exception);

    [LoggerMessage(305, LogLevel.Debug, "Connection {ConnectionId} broke the protocol and was closed: {Reason}")]
    public static partial void ProtocolViolation(ILogger logger, long connectionId, string reason);

    [LoggerMessage(303, LogLevel.Debug, "Connection {ConnectionId} ended ({CloseReason}) after {Duration}: {Reason}")]
    public static partial void ConnectionEnded(ILogger logger, long connectionId, ConnectionCloseReason closeReason, TimeSpan duration, string reason);

    [LoggerMessage(304, LogLevel.Debug, "Connection from {RemoteEndPoint} could not be configured and was closed")]
    public static partial void ConnectionSetupFailed(ILogger logger, EndPoint? remoteEndPoint, Exception exception);

    [LoggerMessage(1200, LogLevel.Information, "TLS certificates reloaded ({Count} certificates)")]
    public static partial void TlsCertificatesReloaded(ILogger logger, int count);

    [LoggerMessage(1201, LogLevel.Warning, "TLS certificate reload failed; the previous certificates stay in use: {Error}")]
    public static partial void TlsCertificateReloadFailed(ILogger logger, string error);

    [LoggerMessage(1202, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} refused before its handler ({Reason}) {Detail}")]
    public static partial void ConnectionRefusedAtEdge(ILogger logger, long connectionId, EndPoint? remoteEndPoint, Sockeye.Security.RefusalReason reason, string detail);

    [LoggerMessage(1300, LogLevel.Information, "TLS record buffers are not released between records on this runtime ({Reason}); an idle TLS connection keeps about 33 KB of OpenSSL buffers")]
    public static partial void TlsBufferReleaseUnavailable(ILogger logger, string reason);

    [LoggerMessage(1301, LogLevel.Debug, "Freed native memory returned to the OS after aborted TLS handshakes (malloc_trim) in {Elapsed}")]
    public static partial void NativeMemoryTrimmed(ILogger logger, TimeSpan elapsed);

    [LoggerMessage(1302, LogLevel.Information, "TLS cipher policy {Policy} is applied per handshake through .NET's CipherSuitesPolicy ({Reason}); TLS sessions will not resume and each handshake builds its own OpenSSL context")]
    public static partial void TlsCipherOrderFallback(ILogger logger, Sockeye.Security.TlsCipherPolicy policy, string reason);

    [LoggerMessage(1303, LogLevel.Information, "TLS 1.3 servers send OpenSSL's default number of session tickets per handshake, not {Tickets} ({Reason}); resumption works, each full handshake costs one ticket more")]
    public static partial void TlsTicketCountUnchanged(ILogger logger, int tickets, string reason);
}
