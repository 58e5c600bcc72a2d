using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sockeye.Server;
using Sockeye.Transport;

namespace Sockeye.Cli.Commands.Supervision;

/// <summary>
/// The one listening socket a supervisor owns and its workers accept on. The supervisor binds it once
/// (or adopts the one it was given: <c>--listen-fd</c>, systemd) and never accepts on it; it clears
/// <c>FD_CLOEXEC</c> on it, so every worker it starts inherits the socket at the same descriptor number
/// and is told that number (<c>--listen-fd N</c>). Because the socket lives as long as the supervisor,
/// a worker that stops or is replaced leaves the connections queued on it to the others: with one
/// <c>SO_REUSEPORT</c> listener per worker, those queued on the stopping worker's would be reset.
/// </summary>
/// <remarks>
/// Why inheritance and not <c>SCM_RIGHTS</c>: .NET's <c>Process.Start</c> (fork + exec) closes nothing
/// itself; it relies on every descriptor .NET opens carrying <c>FD_CLOEXEC</c>. One <c>fcntl</c> that
/// clears the flag on this one descriptor is the whole native piece, and the worker finds the socket
/// at the number it is told. Every process the supervisor starts inherits it, which is what is wanted:
/// it starts only workers.
/// </remarks>
internal sealed class SharedListener : IDisposable
{
    private readonly Socket _socket;

    private SharedListener(Socket socket, int fd)
    {
        _socket = socket;
        Fd = fd;
        EndPoint = socket.LocalEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.None, 0);
    }

    /// <summary>The descriptor number, the same in the supervisor and in every worker.</summary>
    public int Fd { get; }

    /// <summary>Where the socket listens (the port the kernel chose, for port 0).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The descriptor as a command-line value.</summary>
    public string FdText => Fd.ToString(CultureInfo.InvariantCulture);

    /// <summary>Binds <paramref name="options"/>' endpoint (one exclusive listener, unless it shares
    /// the port on purpose), or adopts <see cref="TcpServerOptions.ListenFd"/>; then lets workers inherit it.</summary>
    /// <exception cref="IOException">The port cannot be bound, or the descriptor is no listening socket.</exception>
    public static SharedListener Open(TcpServerOptions options)
    {
        Socket socket;
        if (options.ListenFd is { } given)
        {
            socket = ListenDescriptor.Adopt(given);
        }
        else
        {
            var bind = new TcpServerOptions { EndPoint = options.EndPoint, AcceptorCount = 1, SharePort = options.SharePort, ListenBacklog = options.ListenBacklog };
            socket = ListenSocketBinder.ListenTcp(bind)[0];
        }

        var fd = (int)socket.SafeHandle.DangerousGetHandle();
        var error = DescriptorNative.SetCloseOnExec(fd, close: false);
        if (error != 0)
        {
            socket.Dispose();
            throw new IOException($"cannot hand descriptor {fd} to the workers: fcntl failed with errno {error}");
        }

        return new SharedListener(socket, fd);
    }

    public void Dispose() => _socket.Dispose();
}
