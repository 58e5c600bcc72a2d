using System.Net.Sockets;
using Sockeye.Transport;

namespace Sockeye.Server;

/// <summary>
/// Adopts a listening socket the process was given rather than opened (<see cref="TcpServerOptions.ListenFd"/>):
/// checks that the descriptor is a listening stream socket of a family the server serves, then wraps it
/// in a <see cref="Socket"/> that owns it. Closing that socket closes this process's descriptor only: a
/// supervisor, systemd or a sibling worker holding the same socket keeps it listening, with its queue.
/// </summary>
internal static class ListenDescriptor
{
    /// <summary>Checks <paramref name="fd"/> and wraps it.</summary>
    /// <exception cref="IOException">The descriptor is not open, not a socket, not a stream socket, not
    /// listening, or of another family (the message names the descriptor and what it is).</exception>
    public static Socket Adopt(int fd)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException($"TcpServerOptions.ListenFd needs Linux (got descriptor {fd})");
        }

        Check(fd);
        // Not inherited by processes this one starts unless a supervisor asks for it (ListenSockets.Share).
        DescriptorNative.SetCloseOnExec(fd, close: true);
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    /// <summary>Throws unless <paramref name="fd"/> is a listening TCP or Unix stream socket.</summary>
    public static void Check(int fd)
    {
        var error = DescriptorNative.GetSocketOption(fd, DescriptorNative.SoType, out var type);
        if (error != 0)
        {
            throw new IOException(error switch
            {
                DescriptorNative.EBADF => $"cannot listen on descriptor {fd}: it is not open in this process (was it inherited? LISTEN_FDS descriptors start at 3)",
                DescriptorNative.ENOTSOCK => $"cannot listen on descriptor {fd}: it is not a socket",
                _ => $"cannot listen on descriptor {fd}: getsockopt failed with errno {error}",
            });
        }

        if (type != DescriptorNative.SockStream)
        {
            throw new IOException($"cannot listen on descriptor {fd}: it is a socket of type {type}, not a stream socket (SOCK_STREAM, {DescriptorNative.SockStream})");
        }

        DescriptorNative.GetSocketOption(fd, DescriptorNative.SoDomain, out var family);
        if (family is not (DescriptorNative.AfInet or DescriptorNative.AfInet6 or DescriptorNative.AfUnix))
        {
            throw new IOException($"cannot listen on descriptor {fd}: its address family is {family}, not IPv4 ({DescriptorNative.AfInet}), IPv6 ({DescriptorNative.AfInet6}) or Unix ({DescriptorNative.AfUnix})");
        }

        DescriptorNative.GetSocketOption(fd, DescriptorNative.SoAcceptConn, out var listening);
        if (listening == 0)
        {
            throw new IOException($"cannot listen on descriptor {fd}: it is a stream socket that is not listening (listen() was not called on it)");
        }
    }
}
