using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Sockeye.Security.Internal;

/// <summary>
/// Gives back the memory BIO buffers .NET keeps between an <see cref="SslStream"/> and its OpenSSL
/// <c>SSL</c>, once a large message has grown them and they are empty again.
/// </summary>
/// <remarks>
/// <para>Why: on Linux, .NET feeds each received TLS record into an input memory BIO and takes each
/// encrypted record out of an output memory BIO (dotnet/runtime <c>Interop.OpenSsl.cs</c>, <c>Decrypt</c>
/// and <c>Encrypt</c>). A memory BIO's buffer (<c>BUF_MEM</c>) grows to the largest record it ever held,
/// by a third more, and never shrinks: one 16 KB record each way leaves an idle connection with about
/// 2 × 22 KB of buffers that are empty for the rest of its life.</para>
/// <para>How: when a BIO is a memory BIO, holds no pending bytes and its buffer is larger than
/// <see cref="KeepBytes"/>, a new empty <c>BUF_MEM</c> is put in with OpenSSL's own
/// <c>BIO_set_mem_buf</c> (<c>BIO_C_SET_BUF_MEM</c>), which frees the old one. The next record allocates
/// what it needs again. The caller guarantees that neither <c>SSL_read</c> nor <c>SSL_write</c> runs on the
/// connection meanwhile (see <see cref="TlsConnection"/>). The <c>SSL*</c> is reached as in
/// <see cref="OpenSslBufferRelease"/>, and every step is checked; a runtime that differs changes nothing.</para>
/// <para>Safe for concurrent use on different connections.</para>
/// </remarks>
internal sealed unsafe class OpenSslBioTrim
{
    /// <summary>A buffer this large or smaller is left alone: small records reuse it without a new allocation.</summary>
    public const int KeepBytes = 2048;

    private const int BioTypeMem = 1 | 0x0400;   // BIO_TYPE_MEM
    private const int BioCtrlPending = 10;       // BIO_CTRL_PENDING
    private const int BioSetBufMem = 114;        // BIO_C_SET_BUF_MEM
    private const int BioGetBufMemPtr = 115;     // BIO_C_GET_BUF_MEM_PTR
    private const int BioClose = 1;              // BIO_CLOSE: the BIO owns (and frees) the buffer

    private readonly string _contextField;
    private readonly Lock _initLock = new();
    private Native? _native;
    private bool _initialized;

    /// <summary>Works with .NET's OpenSSL-backed <see cref="SslStream"/> on Linux (checked on .NET 10
    /// with OpenSSL 3).</summary>
    public static OpenSslBioTrim Shared { get; } = new("_securityContext");

    internal OpenSslBioTrim(string contextField) => _contextField = contextField;

    /// <summary>Frees both BIO buffers of <paramref name="stream"/> where they are empty and larger than
    /// <see cref="KeepBytes"/>. No TLS read or write may run on the stream during the call.</summary>
    /// <returns>The bytes of buffer capacity given back.</returns>
    public long Trim(SslStream stream) => WithSsl(stream, ssl =>
    {
        var native = _native!;
        return TrimOne(native, native.ReadBio(ssl)) + TrimOne(native, native.WriteBio(ssl));
    });

    /// <summary>The capacity of the input (<paramref name="input"/>) or output BIO's buffer, for tests;
    /// -1 when it cannot be read.</summary>
    internal long Capacity(SslStream stream, bool input) => WithSsl(stream, ssl =>
    {
        var native = _native!;
        var bio = input ? native.ReadBio(ssl) : native.WriteBio(ssl);
        var buffer = MemoryBuffer(native, bio);
        return buffer == 0 ? -1 : (long)((nuint*)buffer)[2];
    }, -1);

    private static long TrimOne(Native native, nint bio)
    {
        var buffer = MemoryBuffer(native, bio);
        if (buffer == 0 || native.Control(bio, BioCtrlPending, 0, 0) != 0)
        {
            return 0;
        }

        // struct buf_mem_st { size_t length; char *data; size_t max; unsigned long flags; } (openssl/buffer.h)
        var capacity = (long)((nuint*)buffer)[2];
        if (capacity <= KeepBytes)
        {
            return 0;
        }

        var fresh = native.NewBuffer();
        if (fresh == 0)
        {
            return 0;
        }

        if (native.Control(bio, BioSetBufMem, BioClose, fresh) != 1)
        {
            native.FreeBuffer(fresh);
            return 0;
        }

        return capacity;
    }

    /// <summary>The <c>BUF_MEM*</c> of a memory BIO; 0 for any other BIO.</summary>
    private static nint MemoryBuffer(Native native, nint bio)
    {
        if (bio == 0 || native.MethodType(bio) != BioTypeMem)
        {
            return 0;
        }

        nint buffer = 0;
        return native.Control(bio, BioGetBufMemPtr, 0, (nint)(&buffer)) == 1 ? buffer : 0;
    }

    private long WithSsl(SslStream stream, Func<nint, long> use, long unavailable = 0)
    {
        var native = Initialize(stream);
        if (native?.ContextField.GetValue(stream) is not SafeHandle handle || handle.GetType() != native.HandleType)
        {
            return unavailable;
        }

        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var ssl = handle.DangerousGetHandle();
            return ssl == 0 || native.IsServer(ssl) != 1 ? unavailable : use(ssl);
        }
        catch (ObjectDisposedException)
        {
            return unavailable; // closed meanwhile: OpenSSL freed the BIOs with the SSL
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private Native? Initialize(SslStream stream)
    {
        if (Volatile.Read(ref _initialized))
        {
            return _native;
        }

        lock (_initLock)
        {
            if (!_initialized)
            {
                _native = Load(stream);
                Volatile.Write(ref _initialized, true);
            }

            return _native;
        }
    }

    private Native? Load(SslStream stream)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var field = typeof(SslStream).GetField(_contextField, BindingFlags.Instance | BindingFlags.NonPublic);
        if (field is null || field.GetValue(stream) is not SafeHandle handle || handle.GetType().Name != "SafeSslHandle")
        {
            return null;
        }

        var ssl = OpenSslBufferRelease.LoadedLibraries("libssl.so");
        var crypto = OpenSslBufferRelease.LoadedLibraries("libcrypto.so");
        if (ssl.Count != 1 || crypto.Count != 1
            || !NativeLibrary.TryLoad(ssl[0], out var libssl) || !NativeLibrary.TryLoad(crypto[0], out var libcrypto)
            || !NativeLibrary.TryGetExport(libssl, "SSL_is_server", out var isServer)
            || !NativeLibrary.TryGetExport(libssl, "SSL_get_rbio", out var readBio)
            || !NativeLibrary.TryGetExport(libssl, "SSL_get_wbio", out var writeBio)
            || !NativeLibrary.TryGetExport(libcrypto, "BIO_method_type", out var methodType)
            || !NativeLibrary.TryGetExport(libcrypto, "BIO_ctrl", out var control)
            || !NativeLibrary.TryGetExport(libcrypto, "BUF_MEM_new", out var newBuffer)
            || !NativeLibrary.TryGetExport(libcrypto, "BUF_MEM_free", out var freeBuffer))
        {
            return null;
        }

        return new Native(field, handle.GetType(),
            (delegate* unmanaged[Cdecl]<nint, int>)isServer,
            (delegate* unmanaged[Cdecl]<nint, nint>)readBio,
            (delegate* unmanaged[Cdecl]<nint, nint>)writeBio,
            (delegate* unmanaged[Cdecl]<nint, int>)methodType,
            (delegate* unmanaged[Cdecl]<nint, int, nint, nint, nint>)control,
            (delegate* unmanaged[Cdecl]<nint>)newBuffer,
            (delegate* unmanaged[Cdecl]<nint, void>)freeBuffer);
    }

    /// <summary>The OpenSSL entry points, called through unmanaged function pointers.</summary>
    private sealed class Native(
        FieldInfo contextField,
        Type handleType,
        delegate* unmanaged[Cdecl]<nint, int> isServer,
        delegate* unmanaged[Cdecl]<nint, nint> readBio,
        delegate* unmanaged[Cdecl]<nint, nint> writeBio,
        delegate* unmanaged[Cdecl]<nint, int> methodType,
        delegate* unmanaged[Cdecl]<nint, int, nint, nint, nint> control,
        delegate* unmanaged[Cdecl]<nint> newBuffer,
        delegate* unmanaged[Cdecl]<nint, void> freeBuffer)
    {
        public FieldInfo ContextField { get; } = contextField;

        public Type HandleType { get; } = handleType;

        public int IsServer(nint ssl) => isServer(ssl);

        public nint ReadBio(nint ssl) => readBio(ssl);

        public nint WriteBio(nint ssl) => writeBio(ssl);

        public int MethodType(nint bio) => methodType(bio);

        public nint Control(nint bio, int command, nint larg, nint parg) => control(bio, command, larg, parg);

        public nint NewBuffer() => newBuffer();

        public void FreeBuffer(nint buffer) => freeBuffer(buffer);
    }
}
