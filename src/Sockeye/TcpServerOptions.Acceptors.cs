namespace Sockeye;

public sealed partial class TcpServerOptions
{
    /// <summary>The default for <see cref="AcceptorCount"/>: half the cores, at least 1 and at most 8.</summary>
    public static readonly int DefaultAcceptorCount = Math.Clamp(Environment.ProcessorCount / 2, 1, 8);

    /// <summary>How many listening sockets the server opens on its one port, each with its own accept
    /// loop; the kernel spreads incoming connections over them (<c>SO_REUSEPORT</c>).</summary>
    /// <remarks>Default: <see cref="DefaultAcceptorCount"/>, half the cores (1 on a 2-core machine, 8 at
    /// most). One accept loop keeps up with tens of thousands of connections per second; more pay off
    /// when connection setup itself is the bottleneck (short connections on many cores), because .NET
    /// serves each listening socket from one of its epoll threads. The price of each extra acceptor is
    /// one descriptor, one pending accept and the accept loop's spare descriptors (16). The kernel
    /// chooses the listener by a hash of the client's address and port, not by load, so the split is
    /// even only over many clients. Linux only (elsewhere there is one listener); a
    /// <see cref="UnixSocketPath"/> server always has one. With more than one acceptor the sockets carry
    /// <c>SO_REUSEPORT</c>, but the start still refuses a port that another server holds unless
    /// <see cref="SharePort"/> is set.</remarks>
    public int AcceptorCount { get; set; } = DefaultAcceptorCount;

    /// <summary>Whether the server may share its port with other listeners that also ask to share it
    /// (<c>SO_REUSEPORT</c>): other processes of the same user, such as the worker processes of
    /// <c>sockeye serve --processes</c>.</summary>
    /// <remarks>Default: <see langword="false"/>: the start fails, naming the port, when anything
    /// already listens on it, so two unrelated servers never split one port's connections without
    /// knowing (.NET's <c>Socket.ReuseAddress</c> would silently allow that, dotnet/corefx#24562). Set it
    /// only when every process on the port serves the same protocol; the kernel then spreads new
    /// connections over all of their listeners by a hash of the client's address. With port 0 a free
    /// port is chosen first, so sharing begins only when others join that port. Linux only (other
    /// systems' <c>SO_REUSEPORT</c> does not balance): the start throws
    /// <see cref="PlatformNotSupportedException"/> elsewhere. Ignored for <see cref="UnixSocketPath"/>.</remarks>
    public bool SharePort { get; set; }

    // Beyond this, more accept loops only add descriptors and pending accepts.
    private const int MaxAcceptorCount = 64;

    private void ValidateAcceptors() =>
        Require(AcceptorCount is >= 1 and <= MaxAcceptorCount, nameof(AcceptorCount), AcceptorCount, $"must be between 1 and {MaxAcceptorCount}");
}
