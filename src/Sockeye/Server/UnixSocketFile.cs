using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;

namespace Sockeye.Server;

/// <summary>
/// The socket file of a server on a Unix domain socket: a stale one (left by a crashed run) is
/// replaced before the bind, and the one this server created is removed when it stops, once.
/// </summary>
internal sealed class UnixSocketFile(string path, ILogger logger)
{
    // 1 once the bind created the file and until it is removed: the stop and a failed start may both try.
    private int _created;

    /// <summary>The file's path (<see cref="TcpServerOptions.UnixSocketPath"/>).</summary>
    public string Path => path;

    /// <summary>Records that the bind created the file, so that <see cref="Remove"/> deletes it.</summary>
    public void Created() => Volatile.Write(ref _created, 1);

    /// <summary>
    /// A socket file outlives a crashed server, and bind() fails on it. Replace it when nothing
    /// answers on it; refuse when a server is listening there, or when the path is not a socket file.
    /// </summary>
    public void ClearStale()
    {
        if (Directory.Exists(path))
        {
            throw new IOException($"cannot listen on unix:{path}: the path is a directory");
        }

        var file = new FileInfo(path);
        if (!file.Exists)
        {
            return;
        }

        // .NET does not tell a socket from other files; a socket's size is always 0, so a file with
        // content is never taken for a stale socket and deleted.
        if (file.LinkTarget is not null || file.Length > 0)
        {
            throw new IOException($"cannot listen on unix:{path}: a file that is not a socket is in the way");
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            // Non-blocking: a listener with a full backlog answers EAGAIN instead of making us wait.
            probe.Blocking = false;
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"cannot listen on unix:{path}: another server is listening on it");
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.TryAgain)
            {
                throw new IOException($"cannot listen on unix:{path}: another server is listening on it (its backlog is full)", ex);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused)
            {
                // Nothing listens: the file is left over from a run that ended without removing it.
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressNotAvailable)
            {
                return; // Removed in the meantime.
            }
            catch (SocketException ex)
            {
                throw new IOException($"cannot listen on unix:{path}: cannot tell whether the existing file is in use: {ex.Message}", ex);
            }
        }

        SockeyeLog.UnixSocketStaleReplaced(logger, path);
        File.Delete(path);
    }

    /// <summary>Deletes the file if this server created it and has not deleted it yet.</summary>
    public void Remove()
    {
        if (Interlocked.Exchange(ref _created, 0) == 0)
        {
            return;
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            SockeyeLog.UnixSocketRemoveFailed(logger, path, ex);
        }
    }
}
