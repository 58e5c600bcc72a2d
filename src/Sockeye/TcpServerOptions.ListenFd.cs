namespace Sockeye;

public sealed partial class TcpServerOptions
{
    /// <summary>A listening socket this process already holds, by descriptor number, to accept on
    /// instead of binding <see cref="EndPoint"/>; <see langword="null"/> (the default) binds.</summary>
    /// <remarks>
    /// For sockets the server did not create: one inherited from a supervisor (<c>sockeye serve
    /// --processes</c> binds once and hands the same socket to every worker), or from systemd socket
    /// activation (see <see cref="SocketActivation"/>). Because the socket outlives any one process, a
    /// restart loses nothing: connections that arrive while one server stops and the next starts wait in
    /// the socket's one accept queue, where separate <c>SO_REUSEPORT</c> listeners would reset theirs.
    /// The start checks the descriptor (open, a stream socket, IPv4, IPv6 or Unix, listening) and fails
    /// with an <see cref="IOException"/> naming it otherwise. The server then owns this process's
    /// descriptor and closes it when it stops; other processes' copies keep listening.
    /// <see cref="EndPoint"/>, <see cref="AcceptorCount"/>, <see cref="SharePort"/> and
    /// <see cref="ListenBacklog"/> do not apply (the socket is already bound and listening, and has one
    /// accept loop). Linux only. Not with <see cref="UnixSocketPath"/>.
    /// </remarks>
    public int? ListenFd { get; set; }

    private void ValidateListenFd()
    {
        Require(ListenFd is null or >= 0, nameof(ListenFd), ListenFd, "must be a descriptor number (0 or more)");
        Require(ListenFd is null || UnixSocketPath is null, nameof(ListenFd), ListenFd, $"cannot be combined with UnixSocketPath ({UnixSocketPath})");
    }
}
