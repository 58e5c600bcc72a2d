using Microsoft.Win32.SafeHandles;

namespace Sockeye.Transport;

/// <summary>
/// A few spare descriptors (open on <c>/dev/null</c>) held while all is well and let go the moment
/// the process runs out, so the runtime has room to start a thread or load an assembly instead of
/// dying; see <see cref="DescriptorLimits"/> for why .NET needs that.
/// </summary>
/// <remarks>
/// The trick is libev's: while the cushion is released, a connection that the accept loop still
/// manages to accept is refused at once unless the cushion can be taken back first, so our own
/// accepts never eat the room the runtime was given. Not thread-safe: <c>AcceptBackoff</c> locks around it.
/// </remarks>
internal sealed class DescriptorCushion : IDisposable
{
    /// <summary>Spare descriptors held: room for a few threads' start-up pipes.</summary>
    public const int Size = 16;

    private readonly List<SafeFileHandle> _spares = new(Size);

    // Read without the lock by the accept path's fast check (AcceptBackoff.CushionInPlace).
    private bool _released;

    public DescriptorCushion()
    {
        IsReleased = !TryRestore();
    }

    /// <summary>Whether the spares were given back and not yet retaken: the process is (or was
    /// recently) out of descriptors.</summary>
    public bool IsReleased { get => Volatile.Read(ref _released); private set => Volatile.Write(ref _released, value); }

    /// <summary>Closes the spares, freeing their descriptors for the runtime.</summary>
    public void Release()
    {
        foreach (var spare in _spares)
        {
            spare.Dispose();
        }

        _spares.Clear();
        IsReleased = true;
    }

    /// <summary>Reopens every spare; <see langword="false"/> (holding none) while descriptors are short.</summary>
    public bool TryRestore()
    {
        if (!OperatingSystem.IsLinux())
        {
            IsReleased = false;
            return true;
        }

        try
        {
            while (_spares.Count < Size)
            {
                _spares.Add(File.OpenHandle("/dev/null"));
            }

            IsReleased = false;
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Release();
            return false;
        }
    }

    public void Dispose() => Release();
}
