using System.Runtime.InteropServices;

namespace Sockeye.Transport.Epoll;

/// <summary>
/// A socket descriptor the epoll engine accepted itself, closed with a plain <c>close</c> once no
/// call is using it (the <see cref="SafeHandle"/> count keeps the number from being reused under a
/// concurrent <c>recv</c>).
/// </summary>
/// <remarks>Not <see cref="System.Net.Sockets.SafeSocketHandle"/>: released without a
/// <see cref="System.Net.Sockets.Socket"/> around it, .NET's handle closes abortively (<c>SO_LINGER</c>
/// {on, 0}, an RST), as if finalized; a served connection must end with a FIN.</remarks>
internal sealed partial class SocketDescriptor : SafeHandle
{
    public SocketDescriptor(int fd)
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(fd);
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == -1;

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(nint fd);

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Close(handle) == 0;
}
