namespace Sockeye;

/// <summary>What waits for a connection's socket to become readable or writable
/// (<see cref="TcpServerOptions.IoEngine"/>).</summary>
public enum IoEngine
{
    /// <summary><see cref="Epoll"/> where it runs (Linux on x86-64 or arm64), <see cref="Sockets"/> elsewhere.</summary>
    Default,

    /// <summary>Sockeye's own epoll loop: the handler's task calls <c>recv</c>/<c>sendmsg</c> without
    /// blocking and waits for an edge only after <c>EAGAIN</c>. An idle connection holds no
    /// <c>SocketAsyncEventArgs</c> and no socket operation state: about 650 bytes less per
    /// connection, and one system call less per read (docs/MEMORY.md). Linux only.</summary>
    Epoll,

    /// <summary>.NET's socket engine (<c>SocketAsyncEventArgs</c>): a zero-byte receive while idle.
    /// Works everywhere .NET does.</summary>
    Sockets,
}
