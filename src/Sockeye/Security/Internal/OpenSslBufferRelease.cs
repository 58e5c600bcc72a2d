using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Authentication;

namespace Sockeye.Security.Internal;

/// <summary>
/// Lets OpenSSL free an idle TLS connection's record buffers: sets <c>SSL_MODE_RELEASE_BUFFERS</c> on
/// the <c>SSL</c> object under an <see cref="SslStream"/>, right after its handshake.
/// </summary>
/// <remarks>
/// <para>Why: .NET creates every <c>SSL</c> without that mode (dotnet/runtime
/// <c>pal_ssl.c</c>, <c>CryptoNative_SslCtxCreate</c> and <c>CryptoNative_SslCreate</c>), so each
/// connection keeps a 16.7 KB read buffer and a 16.6 KB write buffer for as long as it lives, idle or
/// not: measured, they are 33 KB of the 48 KB OpenSSL holds per idle connection (docs/SECURITY.md).
/// With the mode on, OpenSSL frees the read buffer once a record has been consumed and the write
/// buffer once a record has been sent, as nginx does by default. The price is an allocation and a free
/// of about 17 KB per record read and per record written.</para>
/// <para>How, and why it is guarded: .NET has no API for it. The <c>SSL*</c> is the handle of the
/// stream's private <c>_securityContext</c> (a <c>SafeSslHandle</c> on Linux), and <c>SSL_ctrl</c> is
/// called in the <c>libssl</c> the process has already loaded (found in <c>/proc/self/maps</c>, so
/// never a second copy of a different version). Every step is checked: the field and its type, exactly
/// one <c>libssl</c> loaded, its exports, and for each connection that the pointer is a server-side
/// <c>SSL</c> speaking the protocol the stream reports. A runtime that differs in any of these gets no
/// change at all (<see cref="TryEnable"/> returns <see langword="false"/>, <see cref="UnavailableReason"/>
/// says why) and TLS works as before.</para>
/// <para>Safe for concurrent use.</para>
/// </remarks>
internal sealed unsafe class OpenSslBufferRelease
{
    private const int SslCtrlMode = 33;            // SSL_CTRL_MODE: SSL_set_mode is SSL_ctrl(ssl, 33, mode, NULL)
    private const nint SslModeReleaseBuffers = 0x10; // SSL_MODE_RELEASE_BUFFERS

    private readonly string _contextField;
    private readonly string _libraryName;
    private Native? _native;
    private string? _unavailable;
    private int _initialized;
    private readonly Lock _initLock = new();

    /// <summary>Works with .NET's OpenSSL-backed <see cref="SslStream"/> as it is on Linux (checked on
    /// .NET 10 with OpenSSL 3).</summary>
    public static OpenSslBufferRelease Shared { get; } = new("_securityContext", "libssl.so");

    /// <param name="contextField">The <see cref="SslStream"/> field that holds the <c>SSL</c> handle.</param>
    /// <param name="libraryName">The file name prefix of OpenSSL's TLS library.</param>
    internal OpenSslBufferRelease(string contextField, string libraryName)
    {
        _contextField = contextField;
        _libraryName = libraryName;
    }

    /// <summary>Why buffers cannot be released on this runtime, once a call found out; otherwise
    /// <see langword="null"/>.</summary>
    public string? UnavailableReason => Volatile.Read(ref _unavailable);

    /// <summary>Sets <c>SSL_MODE_RELEASE_BUFFERS</c> on <paramref name="stream"/>'s connection. Call it
    /// after the handshake and before any read or write.</summary>
    /// <returns>Whether the mode is now set; <see langword="false"/> leaves the connection as it was.</returns>
    public bool TryEnable(SslStream stream)
    {
        var native = Initialize(stream);
        if (native is null)
        {
            return false;
        }

        if (native.ContextField.GetValue(stream) is not SafeHandle handle || handle.GetType() != native.HandleType)
        {
            return Fail("the stream's TLS context is not an OpenSSL handle");
        }

        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var ssl = handle.DangerousGetHandle();
            if (ssl == 0)
            {
                return false; // Closed meanwhile: nothing to release.
            }

            // The pointer must be what we think it is before anything is written through it.
            if (native.IsServer(ssl) != 1 || ExpectedVersion(stream.SslProtocol) is not { } version || native.Version(ssl) != version)
            {
                return Fail("the stream's TLS handle does not look like its OpenSSL SSL object");
            }

            return (native.Control(ssl, SslCtrlMode, SslModeReleaseBuffers, 0) & SslModeReleaseBuffers) != 0
                || Fail("OpenSSL did not accept SSL_MODE_RELEASE_BUFFERS");
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>The connection's OpenSSL mode bits, for tests; null when unavailable.</summary>
    internal long? GetMode(SslStream stream)
    {
        var native = Initialize(stream);
        if (native?.ContextField.GetValue(stream) is not SafeHandle handle)
        {
            return null;
        }

        // The reference keeps the SSL object alive while it is read: a handle checked for IsClosed and
        // then used could be freed in between by a dispose on another thread.
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return native.Control(handle.DangerousGetHandle(), SslCtrlMode, 0, 0);
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private static int? ExpectedVersion(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => 0x0304,
        SslProtocols.Tls12 => 0x0303,
        _ => null, // Older protocols are off by default; leave them alone.
    };

    private bool Fail(string reason)
    {
        Interlocked.CompareExchange(ref _unavailable, reason, null);
        return false;
    }

    private Native? Initialize(SslStream stream)
    {
        if (Volatile.Read(ref _initialized) == 0)
        {
            lock (_initLock)
            {
                if (_initialized == 0)
                {
                    _native = Load(stream, out var reason);
                    if (reason is not null)
                    {
                        Fail(reason);
                    }

                    Volatile.Write(ref _initialized, 1);
                }
            }
        }

        return _native;
    }

    private Native? Load(SslStream stream, out string? reason)
    {
        reason = null;
        if (!OperatingSystem.IsLinux())
        {
            reason = "SslStream does not use OpenSSL on this operating system";
            return null;
        }

        var field = typeof(SslStream).GetField(_contextField, BindingFlags.Instance | BindingFlags.NonPublic);
        if (field is null || !typeof(SafeHandle).IsAssignableFrom(field.FieldType))
        {
            reason = $"SslStream has no SafeHandle field {_contextField} on this runtime";
            return null;
        }

        if (field.GetValue(stream) is not SafeHandle handle || handle.GetType().Name != "SafeSslHandle")
        {
            reason = $"SslStream.{_contextField} is not an OpenSSL SafeSslHandle on this runtime";
            return null;
        }

        var libraries = LoadedLibraries(_libraryName);
        if (libraries.Count != 1)
        {
            reason = libraries.Count == 0 ? $"no {_libraryName}* is loaded in this process" : $"several TLS libraries are loaded: {string.Join(", ", libraries)}";
            return null;
        }

        // dlopen of a path already mapped returns that library: no second copy is loaded.
        if (!NativeLibrary.TryLoad(libraries[0], out var library)
            || !NativeLibrary.TryGetExport(library, "SSL_ctrl", out var control)
            || !NativeLibrary.TryGetExport(library, "SSL_version", out var version)
            || !NativeLibrary.TryGetExport(library, "SSL_is_server", out var isServer))
        {
            reason = $"{libraries[0]} does not export SSL_ctrl, SSL_version and SSL_is_server";
            return null;
        }

        return new Native(field, handle.GetType(),
            (delegate* unmanaged[Cdecl]<nint, int, nint, nint, nint>)control,
            (delegate* unmanaged[Cdecl]<nint, int>)version,
            (delegate* unmanaged[Cdecl]<nint, int>)isServer);
    }

    /// <summary>The distinct paths of mapped files named <paramref name="prefix"/>*.</summary>
    internal static List<string> LoadedLibraries(string prefix)
    {
        var found = new List<string>();
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash < 0)
                {
                    continue;
                }

                var path = line[slash..];
                if (Path.GetFileName(path).StartsWith(prefix, StringComparison.Ordinal) && !found.Contains(path))
                {
                    found.Add(path);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return found;
    }

    /// <summary>The OpenSSL entry points, called through unmanaged function pointers: no marshalling
    /// stub and no delegate per export (<c>SSL_ctrl</c>, <c>SSL_version</c>, <c>SSL_is_server</c>).</summary>
    private sealed class Native(
        FieldInfo contextField,
        Type handleType,
        delegate* unmanaged[Cdecl]<nint, int, nint, nint, nint> control,
        delegate* unmanaged[Cdecl]<nint, int> version,
        delegate* unmanaged[Cdecl]<nint, int> isServer)
    {
        public FieldInfo ContextField { get; } = contextField;

        public Type HandleType { get; } = handleType;

        public nint Control(nint ssl, int command, nint larg, nint parg) => control(ssl, command, larg, parg);

        public int Version(nint ssl) => version(ssl);

        public int IsServer(nint ssl) => isServer(ssl);
    }
}
