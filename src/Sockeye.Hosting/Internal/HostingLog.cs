using System.Net;
using Microsoft.Extensions.Logging;

namespace Sockeye.Hosting.Internal;

/// <summary>
/// The Generic Host integration's log messages (event ids 9xx, under the <c>Sockeye.Hosting</c>
/// category): listeners starting and draining with the host. The servers' own messages are the core
/// library's (<c>Sockeye.Diagnostics.SockeyeLog</c>).
/// </summary>
internal static partial class HostingLog
{
    [LoggerMessage(900, LogLevel.Information, "Listener {Listener} ({Protocol}) listening on {EndPoint}")]
    public static partial void ListenerStarted(ILogger logger, string listener, string protocol, EndPoint? endPoint);

    [LoggerMessage(901, LogLevel.Information, "Host is stopping: draining {Count} listeners for up to {DrainTimeout} or the host's shutdown timeout, whichever is first")]
    public static partial void ListenersDraining(ILogger logger, int count, TimeSpan drainTimeout);

    [LoggerMessage(902, LogLevel.Information, "Listener {Listener} stopped: {Drained} connections drained, {Aborted} aborted, in {Elapsed}")]
    public static partial void ListenerStopped(ILogger logger, string listener, int drained, int aborted, TimeSpan elapsed);

    [LoggerMessage(903, LogLevel.Warning, "AddSockeye was called but no listener is configured: add one in code or under {Section}")]
    public static partial void NoListeners(ILogger logger, string section);

    [LoggerMessage(904, LogLevel.Information, "UDP listener {Listener} stopped: {Drained} datagram handlers drained, {Aborted} still running when its sockets closed, in {Elapsed}")]
    public static partial void UdpListenerStopped(ILogger logger, string listener, int drained, int aborted, TimeSpan elapsed);
}
