using System.Net.Sockets;

namespace Sockeye.Transport;

/// <summary>
/// Sorts socket errors by what they mean for the server, so that the expected ones (a peer that
/// reset, a socket we closed ourselves) are handled quietly and only the unexpected ones are logged
/// as errors.
/// </summary>
internal static class SocketErrors
{
    /// <summary>Why a bind failed, in words a person acting on it needs (for "cannot listen on ...").</summary>
    public static string DescribeBindFailure(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "the address is already in use",
        SocketError.AccessDenied => "permission denied (ports below 1024 need privileges)",
        SocketError.AddressNotAvailable => "the address does not belong to this machine",
        _ => ex.Message,
    };

    /// <summary>The peer reset the connection or vanished.</summary>
    public static bool IsConnectionReset(SocketError error) =>
        error is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted
            or SocketError.NetworkReset or SocketError.TimedOut or SocketError.HostUnreachable
            or SocketError.NetworkUnreachable;

    /// <summary>The socket was closed by this process while an operation was pending.</summary>
    public static bool IsClosedLocally(SocketError error) =>
        error is SocketError.OperationAborted or SocketError.Interrupted or SocketError.NotSocket;

    /// <summary>
    /// An accept failed for a reason that passes: out of file descriptors or kernel buffers, or a
    /// connection that was aborted before it was accepted. Go's <c>net/http</c> retries these after
    /// a back-off, and so do we.
    /// </summary>
    public static bool IsTemporaryAcceptError(SocketError error) =>
        error is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable
            or SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.TimedOut
            or SocketError.TryAgain or SocketError.WouldBlock or SocketError.Interrupted
            or SocketError.ProtocolOption or SocketError.NetworkDown or SocketError.NetworkUnreachable;
}
