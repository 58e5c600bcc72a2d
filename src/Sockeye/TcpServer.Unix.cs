using System.Net;
using System.Net.Sockets;
using Sockeye.Diagnostics;

namespace Sockeye;

public sealed partial class TcpServer
{
    // The socket file this server created, removed on stop; null for TCP or before the bind.
    private string? _unixSocketPath;

    /// <summary>Where the server listens: an <see cref="IPEndPoint"/> for TCP (the same as
    /// <see cref="LocalEndPoint"/>) or a <see cref="UnixDomainSocketEndPoint"/> when
    /// <see cref="TcpServerOptions.UnixSocketPath"/> is set. <see langword="null"/> before the server starts.</summary>
    public EndPoint? ListenEndPoint { get; private set; }

    /// <summary>
    /// Binds a Unix domain socket at <see cref="TcpServerOptions.UnixSocketPath"/>: clears a stale file,
    /// binds, applies the permissions, then listens (in that order, so no client connects before the mode
    /// is set).
    /// </summary>
    private Socket ListenUnix(TcpServerOptions options)
    {
        var path = options.UnixSocketPath!;
        ClearStaleSocketFile(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            _unixSocketPath = path;
            if (options.UnixSocketPermissions is { } mode && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, mode);
            }

            listener.Listen(options.ListenBacklog);
            return listener;
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            listener.Dispose();
            RemoveUnixSocketFile();
            var why = ex is SocketException se ? se.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the path is already in use",
                SocketError.AccessDenied => "permission denied",
                SocketError.AddressNotAvailable => "the directory does not exist",
                _ => ex.Message,
            } : ex.Message;
            throw new IOException($"cannot listen on unix:{path}: {why}", ex);
        }
    }

    /// <summary>
    /// A socket file outlives a crashed server, and bind() fails on it. Replace it when nothing
    /// answers on it; refuse when a server is listening there, or when the path is not a socket file.
    /// </summary>
    private void ClearStaleSocketFile(string path)
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

        SockeyeLog.UnixSocketStaleReplaced(_logger, path);
        File.Delete(path);
    }

    private void RemoveUnixSocketFile()
    {
        var path = Interlocked.Exchange(ref _unixSocketPath, null);
        if (path is null)
        {
            return;
        }

        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            SockeyeLog.UnixSocketRemoveFailed(_logger, path, ex);
        }
    }
}
