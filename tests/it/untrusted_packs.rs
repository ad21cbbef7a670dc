//! A merchant's photo pack is untrusted input: every image in it goes through the guarded
//! decode (a decoder panic is `E_IMAGE_DECODE`, never a crash), and its manifest cannot
//! name files outside the pack (absolute paths, `..`, symlinks out): `E_VALIDATION` on the
//! field, before anything outside is read.

use std::path::{Path, PathBuf};

use render_engine::mockup::{EncodedPhotoView, PhotoView, PrintAreaSpec};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The repository's PNG that panicked the png crate (see compose_bad_input).
const PANICKING_PNG: &[u8] = include_bytes!("../fixtures/bad/png-bad-palette-panics-decoder.png");

/// A copy of the example photo pack in a fresh folder, with `edit` applied to its view.
fn pack_with(edit: impl FnOnce(&mut serde_json::Value, &Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["photo.jpg", "mask.png", "displacement.png", "template.json"] {
        std::fs::copy(
            repo("examples/photo-pack").join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    let manifest = dir.path().join("template.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    edit(&mut json["photo_views"][0], dir.path());
    std::fs::write(&manifest, json.to_string()).unwrap();
    dir
}

#[test]
fn a_panicking_png_as_photo_mask_or_map_is_a_decode_error() {
    for (field, set) in [
        ("photo", "/photo"),
        ("mask", "/mask"),
        ("displacement.image", "/displacement/image"),
    ] {
        let pack = pack_with(|view, dir| {
            std::fs::write(dir.join("bad.png"), PANICKING_PNG).unwrap();
            *view.pointer_mut(set).unwrap() = serde_json::Value::String("bad.png".into());
        });
        let err = PhotoView::load(pack.path()).unwrap_err();
        assert_eq!(err.code(), "E_IMAGE_DECODE", "{field}: {err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn encoded_views_from_bytes_take_the_same_guarded_path() {
    let photo = std::fs::read(repo("examples/photo-pack/photo.jpg")).unwrap();
    let area = PrintAreaSpec {
        quad: [
            [378.0, 264.0],
            [822.0, 264.0],
            [828.0, 796.0],
            [372.0, 796.0],
        ],
        width_in: 12.0,
        height_in: 14.0,
    };
    fn view<'a>(
        photo: &'a [u8],
        mask: Option<&'a [u8]>,
        area: &PrintAreaSpec,
    ) -> EncodedPhotoView<'a> {
        EncodedPhotoView {
            name: "front",
            photo,
            area: area.clone(),
            displacement: None,
            mask,
        }
    }
    for (name, result) in [
        ("photo", view(PANICKING_PNG, None, &area).decode()),
        ("mask", view(&photo, Some(PANICKING_PNG), &area).decode()),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.code(), "E_IMAGE_DECODE", "{name}: {err}");
    }
    // Not an image at all, and an SVG (never accepted for a photo), are refused by content.
    for bytes in [
        &b"GIF89a...."[..],
        &b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..],
    ] {
        assert_eq!(
            view(bytes, None, &area).decode().unwrap_err().code(),
            "E_UNSUPPORTED_FORMAT"
        );
    }
}

#[test]
fn pack_files_outside_the_pack_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("photo.jpg");
    std::fs::copy(repo("examples/photo-pack/photo.jpg"), &secret).unwrap();
    /// A way to name the outside file from inside a pack folder.
    type Naming<'a> = Box<dyn Fn(&Path) -> String + 'a>;
    let cases: Vec<(&str, Naming<'_>)> = vec![
        ("..", Box::new(|_| "../elsewhere/photo.jpg".to_string())),
        ("absolute", Box::new(|_| secret.display().to_string())),
        (
            "symlink",
            Box::new(|dir| {
                std::os::unix::fs::symlink(&secret, dir.join("linked.jpg")).unwrap();
                "linked.jpg".to_string()
            }),
        ),
    ];
    for (case, name) in cases {
        let pack = pack_with(|view, dir| {
            view["photo"] = serde_json::Value::String(name(dir));
        });
        let err = PhotoView::load(pack.path()).unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION", "{case}: {err}");
        assert_eq!(err.fields()[0].field, "photo", "{case}: {err}");
        assert!(err.to_string().contains("pack"), "{case}: {err}");
    }
    // The same file inside the pack is fine, through a sub-folder and `./` too.
    let pack = pack_with(|view, dir| {
        std::fs::create_dir(dir.join("img")).unwrap();
        std::fs::copy(dir.join("photo.jpg"), dir.join("img/photo.jpg")).unwrap();
        view["photo"] = serde_json::Value::String("./img/photo.jpg".into());
    });
    assert_eq!(PhotoView::load(pack.path()).unwrap().len(), 1);
}
