using System.Runtime.InteropServices;

namespace Sockeye.Transport;

/// <summary>
/// The Linux calls behind listening on a descriptor the server did not open (inherited from a
/// supervisor, or from systemd): <c>getsockopt</c> to check what the descriptor is, and <c>fcntl</c>
/// to keep it open across <c>exec</c> or not. .NET has no API for either on a raw descriptor.
/// </summary>
internal static unsafe partial class DescriptorNative
{
    private const string Libc = "libc";

    public const int SolSocket = 1;
    public const int SoType = 3;
    public const int SoAcceptConn = 30;
    public const int SoDomain = 39;

    public const int SockStream = 1;
    public const int AfUnix = 1;
    public const int AfInet = 2;
    public const int AfInet6 = 10;

    public const int EBADF = 9;
    public const int ENOTSOCK = 88;

    private const int F_GETFD = 1;
    private const int F_SETFD = 2;
    private const int FD_CLOEXEC = 1;

    [LibraryImport(Libc, EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(int fd, int level, int name, int* value, uint* length);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    /// <summary>Reads an integer socket option of <paramref name="fd"/> at <c>SOL_SOCKET</c>.</summary>
    /// <returns>0, or the <c>errno</c> of the failure (<see cref="EBADF"/>, <see cref="ENOTSOCK"/>).</returns>
    public static int GetSocketOption(int fd, int name, out int value)
    {
        int result = 0;
        uint length = sizeof(int);
        var failed = GetSockOpt(fd, SolSocket, name, &result, &length) != 0;
        value = result;
        return failed ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>Sets or clears <c>FD_CLOEXEC</c> on <paramref name="fd"/>: whether a process this one
    /// starts (fork + exec) loses the descriptor (<see langword="true"/>) or inherits it at the same number.</summary>
    /// <returns>0, or the <c>errno</c> of the failure.</returns>
    public static int SetCloseOnExec(int fd, bool close)
    {
        var flags = Fcntl(fd, F_GETFD, 0);
        if (flags < 0)
        {
            return Marshal.GetLastPInvokeError();
        }

        var wanted = close ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
        return wanted == flags || Fcntl(fd, F_SETFD, wanted) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    [LibraryImport(Libc, EntryPoint = "dup", SetLastError = true)]
    private static partial int Dup(int fd);

    /// <summary>A second descriptor for the same open socket or file (<c>dup</c>), close-on-exec
    /// cleared as <c>dup</c> leaves it; −1 on failure.</summary>
    public static int Duplicate(int fd) => Dup(fd);

    /// <summary>Whether <paramref name="fd"/> is open in this process.</summary>
    public static bool IsOpen(int fd) => Fcntl(fd, F_GETFD, 0) >= 0;
}
